//! Builds components whose `source` is missing or older than the files their
//! `build.watch` globs name, by running their `build.command` as `spin build` does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::app::App;

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time among files matching `patterns` under `dir`.
fn newest_watched(dir: &Path, patterns: &[String]) -> Option<SystemTime> {
    patterns
        .iter()
        .filter_map(|p| glob::glob(&dir.join(p).to_string_lossy()).ok())
        .flatten()
        .filter_map(|entry| entry.ok())
        .filter_map(|path| modified(&path))
        .max()
}

/// Why a component needs building, if it does.
fn stale_reason(source: &Path, workdir: &Path, watch: &[String]) -> Option<String> {
    let Some(built) = modified(source) else {
        return Some(format!("{} does not exist", source.display()));
    };
    match newest_watched(workdir, watch) {
        Some(newest) if newest > built => Some(format!(
            "sources changed since {} was built",
            source.display()
        )),
        _ => None,
    }
}

/// Runs the build command of every component that is missing or stale; each
/// distinct command runs once.
pub fn build_stale(app: &App) -> Result<()> {
    let mut ran: Vec<(PathBuf, String)> = Vec::new();
    for (id, component) in &app.manifest.component {
        let source = app.path(&component.source);
        let Some(build) = &component.build else {
            if !source.exists() {
                bail!(
                    "component {id:?}: {} does not exist and it has no build command",
                    source.display()
                );
            }
            continue;
        };
        let workdir = build
            .workdir
            .as_deref()
            .map_or(app.dir.clone(), |w| app.path(w));
        let Some(reason) = stale_reason(&source, &workdir, &build.watch) else {
            continue;
        };
        for line in build.command.lines() {
            if ran.iter().any(|(dir, cmd)| dir == &workdir && cmd == &line) {
                continue;
            }
            eprintln!("building {id} ({reason}): {line}");
            let status = Command::new("sh")
                .arg("-c")
                .arg(&line)
                .current_dir(&workdir)
                .status()
                .with_context(|| format!("running the build command of {id}"))?;
            if !status.success() {
                bail!("building component {id:?} failed: `{line}` exited with {status}");
            }
            ran.push((workdir.clone(), line));
        }
        if !source.exists() {
            bail!(
                "component {id:?} was built but {} is still missing (is CARGO_TARGET_DIR pointing elsewhere?)",
                source.display()
            );
        }
        // A build tool that found nothing to do leaves the artifact's time alone;
        // it is up to date all the same.
        if let Ok(file) = std::fs::File::options().append(true).open(&source) {
            let _ = file.set_modified(SystemTime::now());
        }
    }
    Ok(())
}
