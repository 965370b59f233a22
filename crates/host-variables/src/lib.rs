//! Application and component variables, resolved as Spin resolves them, and served
//! to components through `fermyon:spin/variables@2.0.0` and
//! `wasi:config/store@0.2.0-draft-2024-09-27`.
//!
//! An application variable's value is, first found: a command-line override, the
//! environment variable `SPIN_VARIABLE_<NAME>` (name upper-cased), its default.
//! A required variable without a value stops the application from starting. A
//! component sees only its own variables, templates like `"{{ app_var }}"`.
//!
//! ```
//! use std::collections::BTreeMap;
//! use sluice_host_variables::{Declaration, resolve_application, render_component};
//! let decls = BTreeMap::from([("region".to_string(), Declaration { default: Some("eu".into()), required: false })]);
//! let app = resolve_application(&decls, &BTreeMap::new(), |_| None).unwrap();
//! let component = BTreeMap::from([("url".to_string(), "https://{{ region }}.example".to_string())]);
//! let values = render_component(&component, &app).unwrap();
//! assert_eq!(values["url"], "https://eu.example");
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "sluice:host-variables/variables",
        imports: { default: async | trappable },
    });
}

use bindings::fermyon::spin::variables as spin_vars;
use bindings::wasi::config::store as config;

/// Why variables could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(
        "variable {0:?} is not a valid name (lowercase letters, digits and single underscores, starting with a letter)"
    )]
    InvalidName(String),
    #[error(
        "required variable {name:?} has no value: set SPIN_VARIABLE_{upper} or pass --variable {name}=VALUE"
    )]
    Missing { name: String, upper: String },
    #[error("component variable {variable:?}: {reason}")]
    Template { variable: String, reason: String },
}

/// An application variable as `spin.toml` declares it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declaration {
    pub default: Option<String>,
    pub required: bool,
}

/// Whether `name` is a valid variable name, by Spin's rules.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
        && !name.contains("__")
        && !name.ends_with('_')
}

/// Resolves every application variable: override, then `env("SPIN_VARIABLE_<NAME>")`,
/// then the default.
pub fn resolve_application(
    declarations: &BTreeMap<String, Declaration>,
    overrides: &BTreeMap<String, String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, Error> {
    let mut values = BTreeMap::new();
    for (name, decl) in declarations {
        if !valid_name(name) {
            return Err(Error::InvalidName(name.clone()));
        }
        let upper = name.to_ascii_uppercase();
        let value = overrides
            .get(name)
            .cloned()
            .or_else(|| env(&format!("SPIN_VARIABLE_{upper}")))
            .or_else(|| decl.default.clone());
        match value {
            Some(v) => {
                values.insert(name.clone(), v);
            }
            None => {
                return Err(Error::Missing {
                    name: name.clone(),
                    upper,
                });
            }
        }
    }
    Ok(values)
}

/// Renders a component's variable templates against application values.
pub fn render_component(
    templates: &BTreeMap<String, String>,
    application: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Error> {
    templates
        .iter()
        .map(|(name, template)| {
            if !valid_name(name) {
                return Err(Error::InvalidName(name.clone()));
            }
            render(template, application)
                .map(|v| (name.clone(), v))
                .map_err(|reason| Error::Template {
                    variable: name.clone(),
                    reason,
                })
        })
        .collect()
}

fn render(template: &str, application: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed '{{{{' in {template:?}"))?;
        let reference = after[..end].trim();
        let value = application.get(reference).ok_or_else(|| {
            format!("refers to {reference:?}, which is not an application variable")
        })?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// One component's variables, as its instances see them.
#[derive(Clone, Debug, Default)]
pub struct Variables {
    values: Arc<BTreeMap<String, String>>,
}

impl Variables {
    pub fn new(values: BTreeMap<String, String>) -> Self {
        Variables {
            values: Arc::new(values),
        }
    }
}

struct VariablesData;

impl HasData for VariablesData {
    type Data<'a> = &'a Variables;
}

/// Adds both variable interfaces to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &Variables,
) -> wasmtime::Result<()> {
    spin_vars::add_to_linker::<T, VariablesData>(linker, get)?;
    config::add_to_linker::<T, VariablesData>(linker, get)?;
    Ok(())
}

impl spin_vars::Host for &Variables {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, spin_vars::Error>> {
        if !valid_name(&name) {
            return Ok(Err(spin_vars::Error::InvalidName(name)));
        }
        Ok(self
            .values
            .get(&name)
            .cloned()
            .ok_or_else(|| spin_vars::Error::Undefined(format!("no variable for {name:?}"))))
    }
}

impl config::Host for &Variables {
    async fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<String>, config::Error>> {
        Ok(Ok(self.values.get(&key).cloned()))
    }

    async fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, config::Error>> {
        Ok(Ok(self
            .values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("admin_token"));
        assert!(valid_name("a1"));
        for bad in ["", "Admin", "_a", "a__b", "a_", "1a", "a-b"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn resolution_order() {
        let decls = BTreeMap::from([
            (
                "a".to_string(),
                Declaration {
                    default: Some("default".into()),
                    required: false,
                },
            ),
            (
                "b".to_string(),
                Declaration {
                    default: None,
                    required: true,
                },
            ),
        ]);
        let env = |k: &str| (k == "SPIN_VARIABLE_B").then(|| "from-env".to_string());
        let values = resolve_application(&decls, &BTreeMap::new(), env).unwrap();
        assert_eq!(values["a"], "default");
        assert_eq!(values["b"], "from-env");
        let overrides = BTreeMap::from([("b".to_string(), "override".to_string())]);
        assert_eq!(
            resolve_application(&decls, &overrides, env).unwrap()["b"],
            "override"
        );
        assert_eq!(
            resolve_application(&decls, &BTreeMap::new(), |_| None),
            Err(Error::Missing {
                name: "b".into(),
                upper: "B".into()
            })
        );
    }

    #[test]
    fn templates() {
        let app = BTreeMap::from([("x".to_string(), "1".to_string())]);
        let t = |s: &str| render(s, &app);
        assert_eq!(t("{{ x }}-{{x}}").unwrap(), "1-1");
        assert_eq!(t("plain").unwrap(), "plain");
        assert!(t("{{ y }}").is_err());
        assert!(t("{{ x").is_err());
    }
}
