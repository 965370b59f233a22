//! The service's folders are layers: each uses only the ones below it, so the
//! import circles stay inside a folder. Read from the sources, so a `use` that
//! crosses upward fails here rather than in review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each folder and the folders it may use.
const LAYERS: &[(&str, &[&str])] = &[
    ("kernel", &[]),
    ("fleet", &["kernel"]),
    ("ops", &["kernel"]),
    ("releases", &["kernel", "ops"]),
    ("campaigns", &["kernel", "fleet", "ops"]),
    ("device_api", &["kernel", "fleet", "ops", "campaigns"]),
    (
        "ddi",
        &["kernel", "fleet", "ops", "campaigns", "device_api"],
    ),
    (
        "admin",
        &[
            "kernel",
            "fleet",
            "ops",
            "campaigns",
            "device_api",
            "releases",
        ],
    ),
];

/// The code of `source` before its test module, without comments.
fn code(source: &str) -> String {
    let end = source.find("#[cfg(test)]\nmod ").unwrap_or(source.len());
    source[..end]
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `code` names through `crate::` (also inside
/// `crate::{...}` groups).
fn uses(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            for item in split_top_level(&group[..end]) {
                found.insert(first_segment(item.trim()));
            }
            rest = &group[end..];
        } else {
            found.insert(first_segment(rest));
        }
    }
    found.retain(|name| !name.is_empty());
    found
}

fn split_top_level(group: &str) -> Vec<&str> {
    let (mut items, mut level, mut start) = (Vec::new(), 0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => level += 1,
            '}' => level -= 1,
            ',' if level == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}

fn first_segment(path: &str) -> String {
    path.chars()
        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
        .collect()
}

#[test]
fn each_folder_uses_only_the_folders_below_it() {
    let layers: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut folders = BTreeSet::new();
    let mut crossings = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_dir() {
            continue;
        }
        let folder = path.file_name().unwrap().to_str().unwrap().to_owned();
        let allowed = layers
            .get(folder.as_str())
            .unwrap_or_else(|| panic!("folder {folder} is not in LAYERS"));
        folders.insert(folder.clone());
        for file in std::fs::read_dir(&path).unwrap() {
            let file = file.unwrap().path();
            let source = std::fs::read_to_string(&file).unwrap();
            let code = code(&source);
            if code.contains("super::super::") {
                crossings.push(format!(
                    "{} reaches out of its folder with super::super (use crate::)",
                    file.display()
                ));
            }
            for used in uses(&code) {
                if used != folder && !allowed.contains(&used.as_str()) {
                    crossings.push(format!("{} uses crate::{used}", file.display()));
                }
            }
        }
    }
    assert!(crossings.is_empty(), "{crossings:#?}");
    let declared: BTreeSet<String> = layers.keys().map(|k| k.to_string()).collect();
    assert_eq!(folders, declared, "every layer is a folder");
}

#[test]
fn the_reader_finds_uses_in_groups_and_paths() {
    let found = uses(
        "use crate::{kernel::keys, fleet::{device, tally}};\nlet x = crate::ops::audit::head();",
    );
    let names: Vec<&str> = found.iter().map(String::as_str).collect();
    assert_eq!(names, ["fleet", "kernel", "ops"]);
}
