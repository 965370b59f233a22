//! `--policy JSON|@FILE`: a campaign's policy configuration on the command
//! line, the same way on every command that takes one (`campaign create`,
//! `demo`, `policy simulate`).

use anyhow::{Context, Result};
use serde_json::Value;

/// Help text of every `--policy` flag.
pub const VALUE_NAME: &str = "JSON|@FILE";

/// The configuration `text` gives: JSON written out, or `@FILE` to read it
/// from a file. It must be a JSON object.
pub fn parse(text: &str) -> Result<Value> {
    let (json, source) = match text.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
            path.to_owned(),
        ),
        None => (text.to_owned(), "--policy".to_owned()),
    };
    let value: Value = serde_json::from_str(&json).with_context(|| {
        if text.starts_with('@') || text.trim_start().starts_with('{') {
            format!("{source} is not JSON")
        } else {
            format!("--policy {text:?} is not JSON (name a file as @{text})")
        }
    })?;
    anyhow::ensure!(
        value.is_object(),
        "{source}: a policy configuration is a JSON object"
    );
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn json_inline_or_from_a_file() {
        assert_eq!(
            parse(r#"{"stages":[]}"#).unwrap()["stages"],
            serde_json::json!([])
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.json");
        std::fs::write(&file, r#"{"a":1}"#).unwrap();
        assert_eq!(parse(&format!("@{}", file.display())).unwrap()["a"], 1);
        let bare = parse(file.to_str().unwrap()).unwrap_err().to_string();
        assert!(bare.contains("name a file as @"), "{bare}");
        assert!(parse("[1]").is_err());
        assert!(parse("@/no/such/file").is_err());
    }
}
