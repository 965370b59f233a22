//! Writes the seed inputs of every fuzz target into `fuzz/corpus/<target>/`
//! (run from the repository root: `cargo run -p sluice-fuzz-targets --example
//! write_seeds`). Seeds are valid inputs the fuzzer mutates from; the
//! manifest and key statement are signed by the fixture's keys.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new("fuzz/corpus");
    for (target, seeds) in sluice_fuzz_targets::seeds::all() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for (name, bytes) in seeds {
            std::fs::write(dir.join(format!("seed-{name}")), bytes)?;
        }
        println!("{}", dir.display());
    }
    Ok(())
}
