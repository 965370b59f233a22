//! The fuzz targets' bodies: each takes arbitrary bytes, feeds them to one
//! parser that sees untrusted input, and panics if an invariant breaks (a
//! panic, a 5xx from the service, a range outside the body, ...).
//!
//! `fuzz/` (cargo fuzz, outside the workspace) wraps each in
//! `fuzz_target!`; `tests/corpora.rs` replays every file under
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` through the same
//! function, so every input that ever crashed stays a test.
//!
//! ```
//! // Any bytes at all: an error is fine, a panic is a finding.
//! sluice_fuzz_targets::run("range", b"bytes=0-1,5-");
//! sluice_fuzz_targets::run("checkin", b"{\"hardware\":");
//! ```

pub mod seeds;
mod world;

use sluice_protocol::{TrustRoot, Verifier};
use sluice_service::kernel::byte_ranges::{self, Ranges};

pub use world::{NOW, World};

/// Every target, by the name its `fuzz/fuzz_targets/<name>.rs` has.
pub const TARGETS: &[&str] = &[
    "manifest",
    "key_statement",
    "trust_root",
    "checkin",
    "status",
    "admin",
    "ddi",
    "range",
    "spin_toml",
    "runtime_config",
];

/// Runs target `name` on `data`.
///
/// # Panics
///
/// On an unknown target name, and wherever the target finds a bug.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "manifest" => manifest(data),
        "key_statement" => key_statement(data),
        "trust_root" => trust_root(data),
        "checkin" => World::get().checkin(data),
        "status" => World::get().status(data),
        "admin" => World::get().admin(data),
        "ddi" => World::get().ddi(data),
        "range" => range(data),
        "spin_toml" => spin_toml(data),
        "runtime_config" => runtime_config(data),
        other => panic!("no fuzz target {other:?}"),
    }
}

/// A signed manifest, verified as a device verifies it.
pub fn manifest(data: &[u8]) {
    let world = World::get();
    let verifier = Verifier::new(world.trust.clone())
        .with_key_statement(&world.statement)
        .expect("the fixture's key statement verifies");
    if let Ok(verified) = verifier.verify(data, NOW) {
        let limits = verifier.limits();
        let manifest = verified.manifest();
        assert!(manifest.chunks.len() <= limits.max_chunks);
        let total: u64 = manifest.chunks.iter().map(|c| c.size).sum();
        assert_eq!(
            total, manifest.image.size,
            "accepted chunks cover the image"
        );
        // What verifies once verifies again, to the same id.
        let again = verifier
            .verify(data, NOW)
            .expect("verification is deterministic");
        assert_eq!(again.id(), verified.id());
    }
}

/// A root-signed key statement file, as the server and devices read it.
pub fn key_statement(data: &[u8]) {
    let Ok(envelope) = sluice_protocol::decode_statement_file(data) else {
        return;
    };
    let _ = World::get().trust.verify_statement(&envelope);
}

/// A device's trust root file.
pub fn trust_root(data: &[u8]) {
    if let Ok(trust) = TrustRoot::from_json(data) {
        let round_trip =
            TrustRoot::from_json(&trust.to_json()).expect("what was read is written back");
        assert_eq!(round_trip.root_keys(), trust.root_keys());
    }
}

/// A `Range` header against a body whose length the first 8 bytes give.
pub fn range(data: &[u8]) {
    let (len, header) = match data.split_first_chunk::<8>() {
        Some((len, header)) => (u64::from_le_bytes(*len) % (1 << 40), header),
        None => (1000, data),
    };
    let header = String::from_utf8_lossy(header);
    if let Ranges::Satisfiable(ranges) = byte_ranges::parse(Some(&header), len) {
        assert!(!ranges.is_empty() && ranges.len() <= byte_ranges::MAX_RANGES);
        for pair in ranges.windows(2) {
            assert!(pair[0].end + 1 < pair[1].start, "sorted, apart: {ranges:?}");
        }
        for r in &ranges {
            assert!(r.start <= r.end && r.end < len, "{r:?} within {len}");
        }
    }
}

/// `spin.toml`, and each route in it.
pub fn spin_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(app) = sluice_spin_manifest::app::App::parse(text, ".".into()) {
        for trigger in &app.manifest.trigger.http {
            if let sluice_spin_manifest::app::RouteDecl::Path(route) = &trigger.route
                && let Ok(parsed) = sluice_spin_manifest::routes::Route::parse(route, "c")
            {
                let router = sluice_spin_manifest::routes::Router::new(vec![parsed]);
                let _ = router.route(route);
            }
        }
    }
}

/// A runtime-config file.
pub fn runtime_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let base = std::path::Path::new("/app");
    if let Ok(config) =
        sluice_spin_manifest::runtime_config::RuntimeConfig::parse(Some(text), base, None, base)
    {
        assert!(
            config.stores.contains_key("default"),
            "there is always a default store"
        );
    }
}
