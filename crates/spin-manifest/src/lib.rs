//! Spin's configuration formats as `sluice up` reads them: the application
//! manifest (`spin.toml`, [`app`]), the runtime-config file
//! ([`runtime_config`]) and HTTP trigger routes ([`routes`]).
//!
//! Plain parsing and validation, with no wasmtime and no I/O beyond reading
//! the named files, so the parsers can be fuzzed on their own (`fuzz/`).
//!
//! ```
//! let app = sluice_spin_manifest::app::App::parse(
//!     r#"
//! spin_manifest_version = 2
//! [application]
//! name = "hello"
//! [[trigger.http]]
//! route = "/hello"
//! component = "hello"
//! [component.hello]
//! source = "hello.wasm"
//! "#,
//!     ".".into(),
//! )
//! .unwrap();
//! use sluice_spin_manifest::app::RouteDecl;
//! assert!(matches!(&app.manifest.trigger.http[0].route, RouteDecl::Path(p) if p == "/hello"));
//! ```

pub mod app;
pub mod routes;
pub mod runtime_config;
