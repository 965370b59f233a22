//! Every built component imports only what released Spin 3.x provides.

use wac_graph::types::{Package, Types};

use crate::support::host::root;

const COMPONENTS: &[(&str, bool)] = &[
    ("sluice_checkin", true),
    ("sluice_status", true),
    ("sluice_admin", true),
    ("sluice_manifest", false),
    ("sluice_chunks", false),
    ("sluice_policy_standard", false),
    ("sluice_policy_staged", false),
    ("sluice_policy_hold", false),
];

fn imports(bytes: Vec<u8>) -> Vec<String> {
    let mut types = Types::default();
    let package =
        Package::from_bytes("test:component", None, bytes, &mut types).expect("a component");
    types[package.ty()].imports.keys().cloned().collect()
}

/// What released Spin 3.x provides.
fn provided_by_spin3(name: &str) -> bool {
    let (path, version) = name.split_once('@').unwrap_or((name, ""));
    (path.starts_with("wasi:")
        && !path.starts_with("wasi:keyvalue/")
        && !path.starts_with("wasi:config/")
        && version.starts_with("0.2."))
        || (path.starts_with("fermyon:spin/") && version == "2.0.0")
        || (path.starts_with("wasi:keyvalue/") && version == "0.2.0-draft2")
        || (path == "wasi:config/store" && version == "0.2.0-draft-2024-09-27")
}

fn ensure_built() {
    let app = sluice_host::app::App::load(&root().join("spin.toml")).unwrap();
    sluice_host::builder::build_stale(&app).unwrap();
}

fn wasm(name: &str) -> Vec<u8> {
    let path = root()
        .join("target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn components_import_only_what_released_spin_provides() {
    ensure_built();
    let mut sizes = Vec::new();
    for (name, consults_policy) in COMPONENTS {
        let bytes = wasm(name);
        sizes.push(format!("{name} {} KiB", bytes.len() / 1024));
        for import in imports(bytes) {
            let policy = import.starts_with("sluice:policy/") && import.ends_with("@0.2.0");
            assert!(
                provided_by_spin3(&import) || (policy && *consults_policy),
                "{name} imports {import}, which released Spin 3.x does not provide"
            );
        }
    }
    eprintln!("component sizes: {}", sizes.join(", "));
}

#[test]
fn composition_satisfies_the_policy_import() {
    ensure_built();
    let composed = sluice_host::compose::compose(
        &wasm("sluice_checkin"),
        vec![sluice_host::compose::Dependency {
            name: "sluice:policy/rollout@0.2.0".into(),
            bytes: wasm("sluice_policy_standard"),
            export: None,
        }],
        false,
    )
    .unwrap();
    let left: Vec<String> = imports(composed);
    assert!(left.iter().all(|i| !i.starts_with("sluice:")), "{left:?}");
    assert!(left.iter().all(|i| provided_by_spin3(i)), "{left:?}");
}

#[test]
fn a_dependency_that_wants_a_capability_is_refused() {
    ensure_built();
    // The admin component imports key-value and variables: as a dependency it
    // would be given neither.
    let error = sluice_host::compose::compose(
        &wasm("sluice_checkin"),
        vec![sluice_host::compose::Dependency {
            name: "sluice:policy/rollout@0.2.0".into(),
            bytes: wasm("sluice_admin"),
            export: None,
        }],
        false,
    )
    .unwrap_err();
    assert!(format!("{error:#}").contains("capability"), "{error:#}");
}
