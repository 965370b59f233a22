//! The runtime-config file, in the format Spin reads, so one file serves both:
//!
//! ```toml
//! state_dir = ".spin"                 # optional
//! [key_value_store.default]
//! type = "redis"                      # or "spin" (SQLite), with optional `path`
//! url = "redis://127.0.0.1:6379"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    state_dir: Option<String>,
    #[serde(default)]
    key_value_store: BTreeMap<String, StoreDecl>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum StoreDecl {
    #[serde(rename = "spin")]
    Sqlite {
        #[serde(default)]
        path: Option<String>,
    },
    #[serde(rename = "redis")]
    Redis { url: String },
}

/// Where a key-value store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file (`None`: in memory).
    Sqlite(Option<PathBuf>),
    /// A Redis server.
    Redis(String),
}

/// The resolved runtime configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    pub state_dir: PathBuf,
    pub stores: BTreeMap<String, StoreLocation>,
}

impl RuntimeConfig {
    /// Reads `file` (if given). Paths in it are relative to its directory. The
    /// `default` store is SQLite at `<state_dir>/sqlite_key_value.db` unless the file
    /// says otherwise. An explicit `state_dir` argument wins over the file's.
    pub fn load(
        file: Option<&Path>,
        state_dir: Option<&Path>,
        app_dir: &Path,
    ) -> Result<RuntimeConfig> {
        match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let base = path.parent().unwrap_or(Path::new("."));
                RuntimeConfig::parse(Some(&text), base, state_dir, app_dir)
                    .with_context(|| format!("{}", path.display()))
            }
            None => RuntimeConfig::parse(None, app_dir, state_dir, app_dir),
        }
    }

    /// Parses a runtime-config file's `text` (`None`: no file), whose paths
    /// are relative to `base`; see [`RuntimeConfig::load`].
    pub fn parse(
        text: Option<&str>,
        base: &Path,
        state_dir: Option<&Path>,
        app_dir: &Path,
    ) -> Result<RuntimeConfig> {
        let parsed: File = match text {
            Some(text) => toml::from_str(text)?,
            None => File::default(),
        };
        let base = base.to_path_buf();
        let state_dir = match (state_dir, &parsed.state_dir) {
            (Some(dir), _) => dir.to_path_buf(),
            (None, Some(dir)) if !dir.is_empty() => base.join(dir),
            _ => app_dir.join(".spin"),
        };
        let mut stores: BTreeMap<String, StoreLocation> = parsed
            .key_value_store
            .into_iter()
            .map(|(label, decl)| {
                let location = match decl {
                    StoreDecl::Sqlite { path } => StoreLocation::Sqlite(path.map(|p| base.join(p))),
                    StoreDecl::Redis { url } => StoreLocation::Redis(url),
                };
                (label, location)
            })
            .collect();
        stores
            .entry("default".to_owned())
            .or_insert_with(|| StoreLocation::Sqlite(Some(state_dir.join("sqlite_key_value.db"))));
        Ok(RuntimeConfig { state_dir, stores })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_sqlite_in_the_state_dir() {
        let c = RuntimeConfig::load(None, None, Path::new("/app")).unwrap();
        assert_eq!(c.state_dir, Path::new("/app/.spin"));
        assert_eq!(
            c.stores["default"],
            StoreLocation::Sqlite(Some("/app/.spin/sqlite_key_value.db".into()))
        );
    }

    #[test]
    fn redis_and_relative_paths() {
        let dir = std::env::temp_dir().join(format!("sluice-rc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("runtime-config.toml");
        std::fs::write(
            &file,
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n\
             [key_value_store.cache]\ntype = \"spin\"\npath = \"cache.db\"\n",
        )
        .unwrap();
        let c = RuntimeConfig::load(Some(&file), None, Path::new("/app")).unwrap();
        assert_eq!(
            c.stores["default"],
            StoreLocation::Redis("redis://127.0.0.1:6379".into())
        );
        assert_eq!(
            c.stores["cache"],
            StoreLocation::Sqlite(Some(dir.join("cache.db")))
        );
        std::fs::write(&file, "[key_value_store.default]\ntype = \"cosmos\"\n").unwrap();
        assert!(RuntimeConfig::load(Some(&file), None, Path::new("/app")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
