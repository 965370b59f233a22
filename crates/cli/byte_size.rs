//! Byte counts as people write them: `262144`, `256KiB`, `1MiB`, `4k`.

/// Parses a byte count with an optional binary suffix (K/KiB, M/MiB, G/GiB).
pub fn parse(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a byte count"))?;
    let unit: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        other => return Err(format!("unknown unit {other:?} (use KiB, MiB or GiB)")),
    };
    n.checked_mul(unit)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Formats a byte count for people: `64.0 MiB`.
pub fn format(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suffixes() {
        assert_eq!(parse("262144"), Ok(262_144));
        assert_eq!(parse("256KiB"), Ok(262_144));
        assert_eq!(parse("1 MiB"), Ok(1 << 20));
        assert_eq!(parse("4k"), Ok(4096));
        assert!(parse("1.5MiB").is_err());
        assert!(parse("12 parsecs").is_err());
        assert!(parse("99999999999999G").is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(format(5), "5 B");
        assert_eq!(format(64 << 20), "64.0 MiB");
        assert_eq!(format(1536), "1.5 KiB");
    }
}
