//! `[component.X.dependencies]`: plugging dependency components into the imports
//! of the component that names them, with `wac-graph`, as Spin does at load.
//!
//! A dependency is given no capability of the component it serves: unless
//! `dependencies_inherit_configuration = true`, a dependency that imports a
//! capability interface (key-value, variables, outbound HTTP, sockets, files) is
//! refused at load. Spin instead plugs those imports with a deny-all adapter; either
//! way the dependency can use none of them.

use anyhow::{Context, Result, bail};
use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions};

/// Import prefixes that grant a capability configured in `spin.toml`.
const CAPABILITIES: &[&str] = &[
    "fermyon:spin/",
    "spin:",
    "wasi:keyvalue/",
    "wasi:config/",
    "wasi:http/outgoing-handler",
    "wasi:sockets/",
    "wasi:filesystem/",
];

/// One dependency to plug in.
pub struct Dependency {
    /// The key in `[component.X.dependencies]`, e.g. `sluice:policy/rollout@0.2.0`
    /// or a whole package `sluice:policy`.
    pub name: String,
    pub bytes: Vec<u8>,
    /// The export to use instead of the one named like the import.
    pub export: Option<String>,
}

/// Whether dependency key `key` satisfies import `import`: same package, and the
/// same interface and version where the key names them.
fn key_matches(key: &str, import: &str) -> bool {
    let split = |s: &str| -> (String, Option<String>, Option<String>) {
        let (name, version) = match s.split_once('@') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (s.to_owned(), None),
        };
        match name.split_once('/') {
            Some((pkg, iface)) => (pkg.to_owned(), Some(iface.to_owned()), version),
            None => (name, None, version),
        }
    };
    let (kp, ki, kv) = split(key);
    let (ip, ii, iv) = split(import);
    if !key.contains(':') {
        return key == import;
    }
    kp == ip
        && ki.as_ref().is_none_or(|k| Some(k) == ii.as_ref())
        && kv.as_ref().is_none_or(|k| Some(k) == iv.as_ref())
}

/// Composes `main` with `dependencies` into one component.
pub fn compose(
    main: &[u8],
    dependencies: Vec<Dependency>,
    inherit_configuration: bool,
) -> Result<Vec<u8>> {
    if dependencies.is_empty() {
        return Ok(main.to_vec());
    }
    let mut graph = CompositionGraph::new();
    let package = Package::from_bytes("root:component", None, main.to_vec(), graph.types_mut())
        .context("reading the component")?;
    let world = &graph.types()[package.ty()];
    let imports: Vec<String> = world.imports.keys().cloned().collect();
    let exports: Vec<String> = world.exports.keys().cloned().collect();
    let root = graph.register_package(package)?;
    let root_instance = graph.instantiate(root);

    let mut plugged: Vec<String> = Vec::new();
    for (i, dep) in dependencies.into_iter().enumerate() {
        let matched: Vec<&String> = imports
            .iter()
            .filter(|imp| key_matches(&dep.name, imp))
            .collect();
        if matched.is_empty() {
            bail!(
                "dependency {:?} matches no import of the component (imports: {})",
                dep.name,
                imports.join(", ")
            );
        }
        let package = Package::from_bytes(
            &format!("dependency:d{i}"),
            None,
            dep.bytes,
            graph.types_mut(),
        )
        .with_context(|| format!("reading dependency {:?}", dep.name))?;
        if !inherit_configuration {
            let dep_world = &graph.types()[package.ty()];
            if let Some(capability) = dep_world
                .imports
                .keys()
                .find(|name| CAPABILITIES.iter().any(|c| name.starts_with(c)))
            {
                bail!(
                    "dependency {:?} imports {capability}, a capability spin.toml does not grant it \
                     (set dependencies_inherit_configuration = true to share the component's)",
                    dep.name
                );
            }
        }
        let dep_id = graph.register_package(package)?;
        let dep_instance = graph.instantiate(dep_id);
        for import in matched {
            if plugged.contains(import) {
                bail!("import {import} is satisfied by more than one dependency");
            }
            let export = dep.export.clone().unwrap_or_else(|| import.clone());
            let alias = graph
                .alias_instance_export(dep_instance, &export)
                .with_context(|| format!("dependency {:?} does not export {export}", dep.name))?;
            graph
                .set_instantiation_argument(root_instance, import, alias)
                .with_context(|| format!("plugging {export} into {import}"))?;
            plugged.push(import.clone());
        }
    }
    for name in &exports {
        let alias = graph.alias_instance_export(root_instance, name)?;
        graph.export(alias, name)?;
    }
    Ok(graph.encode(EncodeOptions::default())?)
}

#[cfg(test)]
mod tests {
    use super::key_matches;

    #[test]
    fn dependency_keys() {
        let import = "sluice:policy/rollout@0.2.0";
        assert!(key_matches("sluice:policy/rollout@0.2.0", import));
        assert!(key_matches("sluice:policy/rollout", import));
        assert!(key_matches("sluice:policy", import));
        assert!(key_matches("sluice:policy@0.2.0", import));
        assert!(!key_matches("sluice:policy/rollout@0.1.0", import));
        assert!(!key_matches("sluice:policy/other", import));
        assert!(!key_matches("sluice:other/rollout", import));
    }
}
