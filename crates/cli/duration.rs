//! Durations on the command line: a whole number and `s`, `m`, `h` or `d`
//! (`90s`, `15m`, `24h`, `14d`), the grammar policies and the server read
//! too ([`sluice_policy::calendar::parse_duration`]), so a soak written for a
//! flag reads the same in a policy configuration.

use std::time::Duration;

/// A `value_parser` for duration flags.
pub fn parse(text: &str) -> Result<Duration, String> {
    sluice_policy::calendar::parse_duration(text).map(Duration::from_secs)
}

/// A `value_parser` for a duration the server reads itself (a ring's soak):
/// checked here, sent as written.
pub fn checked(text: &str) -> Result<String, String> {
    parse(text).map(|_| text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::parse;
    use std::time::Duration;

    #[test]
    fn the_grammar_policies_read() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("14d"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        for bad in ["1h30m", "12weeks", "10", "1.5h", ""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
