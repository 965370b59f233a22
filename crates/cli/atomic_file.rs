//! Whole-file writes that are never seen half-done: write a temporary file beside
//! the target, flush it to disk, then rename it into place.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Permissions of a written file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Readable by everyone (0644): public keys, manifests, chunks.
    Public,
    /// Owner only (0600): secret keys.
    Secret,
}

/// Writes `bytes` to `path` atomically with the given permissions.
pub fn write(path: &Path, bytes: &[u8], visibility: Visibility) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .context("file name")?;
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(match visibility {
            Visibility::Public => 0o644,
            Visibility::Secret => 0o600,
        });
    }
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}
