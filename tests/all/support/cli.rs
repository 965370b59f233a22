//! Running the `sluice` binary from tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The outcome of one `sluice` invocation.
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with the full output unless the command succeeded.
    pub fn success(self) -> Self {
        assert!(
            self.ok,
            "sluice failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// Panics unless the command failed with an error mentioning every one of `needles`.
    pub fn failure(self, needles: &[&str]) -> Self {
        assert!(
            !self.ok,
            "sluice succeeded but should have failed:\n{}",
            self.stdout
        );
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "error does not mention {needle:?}:\n{}",
                self.stderr
            );
        }
        self
    }

    /// The last line of standard output (what scripts capture).
    pub fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or_default()
    }
}

/// Runs `sluice` with `args` in `dir`.
pub fn sluice(dir: &Path, args: &[&str]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run sluice");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A scratch directory that is removed when the test ends.
pub fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_owned();
    (dir, path)
}
