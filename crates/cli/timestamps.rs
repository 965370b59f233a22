//! Instants on the command line: unix seconds in files, RFC 3339 for people.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in unix seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Parses `2027-01-01T00:00:00Z` (RFC 3339) or plain unix seconds.
pub fn parse(text: &str) -> Result<u64, String> {
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs);
    }
    humantime::parse_rfc3339_weak(text)
        .map_err(|e| format!("{text:?} is not an RFC 3339 time or unix seconds: {e}"))?
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| format!("{text:?} is before 1970"))
}

/// Formats unix seconds as RFC 3339 UTC.
pub fn format(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// A span of seconds for people, to the minute: `45 min`, `2h 10m`.
pub fn span(secs: u64) -> String {
    let rounded = Duration::from_secs(if secs < 120 { secs } else { secs / 60 * 60 });
    humantime::format_duration(rounded).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(parse("1700000000"), Ok(1_700_000_000));
        assert_eq!(format(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(parse("2023-11-14T22:13:20Z"), Ok(1_700_000_000));
        assert!(parse("next tuesday").is_err());
        assert_eq!(span(90), "1m 30s");
        assert_eq!(span(7_830), "2h 10m");
    }
}
