//! `spin.toml` (manifest version 2): the parts `sluice up` runs. Unknown or
//! unsupported fields are refused, never silently ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// A parsed, validated application manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub spin_manifest_version: u32,
    pub application: Application,
    #[serde(default)]
    pub variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    pub trigger: Triggers,
    #[serde(default)]
    pub component: BTreeMap<String, ComponentDecl>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub trigger: Option<toml::Table>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    #[serde(default)]
    pub id: Option<String>,
    pub route: RouteDecl,
    pub component: String,
    #[serde(default)]
    pub executor: Option<Executor>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RouteDecl {
    Path(String),
    Private { private: bool },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Executor {
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentDecl {
    pub source: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub build: Option<BuildDecl>,
    #[serde(default)]
    pub dependencies: BTreeMap<String, DependencyDecl>,
    #[serde(default)]
    pub dependencies_inherit_configuration: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildDecl {
    pub command: Command,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub watch: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Command {
    One(String),
    Many(Vec<String>),
}

impl Command {
    pub fn lines(&self) -> Vec<String> {
        match self {
            Command::One(c) => vec![c.clone()],
            Command::Many(cs) => cs.clone(),
        }
    }
}

/// Where a dependency comes from: a `.wasm` file, or another component's source.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DependencyDecl {
    Path {
        path: String,
        #[serde(default)]
        export: Option<String>,
    },
    Component {
        component: String,
        #[serde(default)]
        export: Option<String>,
    },
}

/// A loaded manifest and the directory its paths are relative to.
#[derive(Debug, Clone)]
pub struct App {
    pub manifest: Manifest,
    pub dir: PathBuf,
}

impl App {
    /// Reads and validates `spin.toml`.
    pub fn load(path: &Path) -> Result<App> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        App::parse(&text, dir).with_context(|| format!("{}", path.display()))
    }

    /// Parses and validates a manifest's text; its paths are relative to `dir`.
    pub fn parse(text: &str, dir: PathBuf) -> Result<App> {
        let manifest: Manifest = toml::from_str(text)?;
        let app = App { manifest, dir };
        app.validate()?;
        Ok(app)
    }

    /// A path from the manifest, relative to its directory.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    fn validate(&self) -> Result<()> {
        let m = &self.manifest;
        if m.spin_manifest_version != 2 {
            bail!(
                "spin_manifest_version {} is not supported (use 2)",
                m.spin_manifest_version
            );
        }
        if let Some(trigger) = &m.application.trigger {
            for (kind, value) in trigger {
                let table = value.as_table();
                let base = table.and_then(|t| t.get("base")).and_then(|b| b.as_str());
                let other_keys = table.is_none_or(|t| t.keys().any(|k| k != "base"));
                if kind != "http" || other_keys || !matches!(base, None | Some("/")) {
                    bail!(
                        "[application.trigger.{kind}] is not supported: put any base path in each route"
                    );
                }
            }
        }
        for (name, var) in &m.variables {
            if var.required == var.default.is_some() {
                bail!("variable {name:?} must be `required` OR have a `default`");
            }
        }
        for t in &m.trigger.http {
            if !m.component.contains_key(&t.component) {
                bail!(
                    "trigger route {:?} names component {:?}, which is not defined",
                    t.route,
                    t.component
                );
            }
            if let Some(e) = &t.executor
                && !matches!(e.kind.as_str(), "http" | "spin")
            {
                bail!(
                    "executor {:?} is not supported by sluice up (only wasi:http components)",
                    e.kind
                );
            }
            if let RouteDecl::Private { private } = t.route
                && !private
            {
                bail!("route = {{ private = false }} is not valid; give a path");
            }
        }
        for (id, c) in &m.component {
            if c.source.contains("://") {
                bail!("component {id:?}: only local file sources are supported");
            }
            for (name, dep) in &c.dependencies {
                if let DependencyDecl::Component { component, .. } = dep {
                    let Some(target) = m.component.get(component) else {
                        bail!(
                            "component {id:?}: dependency {name:?} names component {component:?}, which is not defined"
                        );
                    };
                    if !target.dependencies.is_empty() {
                        bail!(
                            "component {id:?}: dependency {name:?} must not itself have dependencies"
                        );
                    }
                }
            }
        }
        Ok(())
    }
}
