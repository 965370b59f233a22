//! Replays every committed fuzz input, so whatever the fuzzers found stays a
//! regression test: `fuzz/corpus/<target>/` (seeds and what the fuzzers kept)
//! and `fuzz/regressions/<target>/` (inputs that once crashed).

use std::path::Path;

#[test]
fn every_committed_fuzz_input_still_passes() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for target in sluice_fuzz_targets::TARGETS {
        let mut replayed = 0;
        for kind in ["corpus", "regressions"] {
            let Ok(dir) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
                continue;
            };
            for file in dir {
                let path = file.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| sluice_fuzz_targets::run(target, &data));
                assert!(outcome.is_ok(), "{target}: {} fails", path.display());
                replayed += 1;
            }
        }
        assert!(
            replayed > 0,
            "{target}: no corpus under fuzz/corpus/{target}"
        );
    }
}

#[test]
fn every_target_has_a_fuzz_binary_and_seeds() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let seeds = sluice_fuzz_targets::seeds::all();
    for target in sluice_fuzz_targets::TARGETS {
        let binary = fuzz.join("fuzz_targets").join(format!("{target}.rs"));
        let source = std::fs::read_to_string(&binary)
            .unwrap_or_else(|_| panic!("{} is missing", binary.display()));
        assert!(
            source.contains(&format!("run(\"{target}\"")),
            "{}",
            binary.display()
        );
        assert!(
            seeds.iter().any(|(t, s)| t == target && !s.is_empty()),
            "{target} has seeds"
        );
        for (_, seed) in seeds.iter().filter(|(t, _)| t == target) {
            for (_, bytes) in seed {
                sluice_fuzz_targets::run(target, bytes);
            }
        }
    }
}
