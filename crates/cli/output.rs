//! What a command prints: text for people, or with `--json` one JSON document
//! on stdout and nothing else there.

use std::fmt::Display;

use anyhow::{Context, Result};
use serde::Serialize;

/// `--json`, the same flag with the same meaning on every command that prints
/// a result.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct Format {
    /// Print the result as one JSON document on stdout, nothing else there
    /// (text for people, if any, goes to stderr).
    #[arg(long)]
    pub json: bool,
}

impl Format {
    /// Prints text for people: on stdout, or on stderr under `--json` (where
    /// stdout holds the document only).
    pub fn say(self, text: impl Display) {
        if self.json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }

    /// Prints `document` on stdout when `--json` asked for it; says whether it did.
    pub fn document(self, document: &impl Serialize) -> Result<bool> {
        if self.json {
            println!(
                "{}",
                serde_json::to_string(document).context("encoding the result")?
            );
        }
        Ok(self.json)
    }
}
