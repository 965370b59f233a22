//! Civil time without a time-zone database: UTC instants written in RFC 3339,
//! clock times of day, weekdays, fixed UTC offsets and durations like `"4h"`.

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// Days from 1970-01-01 to the given civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn number(text: &str, what: &str) -> Result<u32, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} {text:?} is not a number"));
    }
    text.parse()
        .map_err(|_| format!("{what} {text:?} is out of range"))
}

/// Parses `±HH:MM` (or `Z`) into minutes east of UTC, within ±14 h.
pub fn parse_offset(text: &str) -> Result<i32, String> {
    if text == "Z" || text == "z" {
        return Ok(0);
    }
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(format!("UTC offset {text:?}: expected +HH:MM, -HH:MM or Z")),
    };
    let (h, m) = rest
        .split_once(':')
        .ok_or_else(|| format!("UTC offset {text:?}: expected ±HH:MM"))?;
    let (h, m) = (number(h, "offset hours")?, number(m, "offset minutes")?);
    if m >= 60 || h > 14 || h * 60 + m > 14 * 60 {
        return Err(format!("UTC offset {text:?} is beyond ±14:00"));
    }
    Ok(sign * (h * 60 + m) as i32)
}

/// Parses a time of day `HH:MM` (`24:00` allowed, meaning the end of the day)
/// into minutes after midnight.
pub fn parse_time_of_day(text: &str) -> Result<u32, String> {
    let (h, m) = text
        .split_once(':')
        .ok_or_else(|| format!("time {text:?}: expected HH:MM"))?;
    let (h, m) = (number(h, "hours")?, number(m, "minutes")?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(format!("time {text:?} is not between 00:00 and 24:00"));
    }
    Ok(h * 60 + m)
}

/// Parses an RFC 3339 instant, `YYYY-MM-DDTHH:MM[:SS](Z|±HH:MM)`, into unix seconds.
pub fn parse_instant(text: &str) -> Result<i64, String> {
    let bad = |why: &str| format!("instant {text:?}: {why} (expected e.g. 2026-12-01T14:00:00Z)");
    let (date, rest) = text
        .split_once(['T', 't', ' '])
        .ok_or_else(|| bad("no time"))?;
    let mut parts = date.split('-');
    let (Some(y), Some(mo), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("the date is not YYYY-MM-DD"));
    };
    if y.len() != 4 {
        return Err(bad("the year must have four digits"));
    }
    let (year, month, day) = (
        i64::from(number(y, "year")?),
        number(mo, "month")?,
        number(d, "day")?,
    );
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(bad("no such date"));
    }
    let zone_at = rest
        .find(['Z', 'z', '+', '-'])
        .ok_or_else(|| bad("no UTC offset (add Z for UTC)"))?;
    let (clock, zone) = rest.split_at(zone_at);
    let offset = parse_offset(zone).map_err(|e| bad(&e))?;
    let mut fields = clock.split(':');
    let (Some(h), Some(mi)) = (fields.next(), fields.next()) else {
        return Err(bad("the time is not HH:MM[:SS]"));
    };
    let s = fields.next().unwrap_or("0");
    if fields.next().is_some() {
        return Err(bad("the time is not HH:MM[:SS]"));
    }
    let (h, mi, s) = (
        number(h, "hours")?,
        number(mi, "minutes")?,
        number(s, "seconds")?,
    );
    if h > 23 || mi > 59 || s > 59 {
        return Err(bad("no such time"));
    }
    Ok(
        days_from_civil(year, month, day) * DAY + i64::from(h * 3600 + mi * 60 + s)
            - i64::from(offset) * 60,
    )
}

/// The civil date of a day number: (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Formats unix seconds as `YYYY-MM-DD HH:MM UTC`, for messages.
pub fn format_instant(at: i64) -> String {
    let (year, month, day) = civil_from_days(at.div_euclid(DAY));
    let seconds = at.rem_euclid(DAY);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        seconds / 3600,
        seconds % 3600 / 60
    )
}

/// Parses a duration: a whole number followed by `s`, `m`, `h` or `d` (`"90s"`,
/// `"30m"`, `"4h"`, `"2d"`), into seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let mut chars = text.chars();
    let last = chars.next_back();
    let n = chars.as_str();
    let unit = match last {
        Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3600,
        Some('d') => 86_400,
        _ => {
            return Err(format!(
                "duration {text:?}: expected a number and s, m, h or d (e.g. \"4h\")"
            ));
        }
    };
    let n = u64::from(number(n, "duration")?);
    Ok(n * unit)
}

/// The weekday of a day number (days since 1970-01-01), 0 = Monday.
pub fn weekday(day: i64) -> u32 {
    // 1970-01-01 was a Thursday.
    (day + 3).rem_euclid(7) as u32
}

/// Parses a weekday name (`mon` or `monday`, any case), 0 = Monday.
pub fn parse_weekday(text: &str) -> Result<u32, String> {
    const NAMES: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let lower = text.to_ascii_lowercase();
    NAMES
        .iter()
        .position(|name| lower == *name || (lower.len() == 3 && name.starts_with(&lower)))
        .map(|i| i as u32)
        .ok_or_else(|| format!("{text:?} is not a weekday (mon … sun)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_parse_with_offsets() {
        assert_eq!(parse_instant("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_instant("2026-12-01T14:00:00Z"), Ok(1_796_133_600));
        assert_eq!(parse_instant("2026-12-01T14:00Z"), Ok(1_796_133_600));
        assert_eq!(
            parse_instant("2026-12-01T15:30:00+01:30"),
            Ok(1_796_133_600)
        );
        assert_eq!(
            parse_instant("2026-12-01T00:00:00-14:00"),
            parse_instant("2026-12-01T14:00:00Z")
        );
        assert_eq!(parse_instant("2024-02-29T00:00:00Z"), Ok(1_709_164_800));
        for bad in [
            "2026-12-01",
            "2026-12-01T14:00:00",
            "2025-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T14:00:00+15:00",
            "26-12-01T14:00:00Z",
            "2026-12-01T14:0a:00Z",
        ] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
    }

    fn at_leap() -> i64 {
        parse_instant("2024-02-29T23:59:00Z").unwrap()
    }

    #[test]
    fn clock_times_offsets_durations_and_weekdays() {
        assert_eq!(parse_time_of_day("00:00"), Ok(0));
        assert_eq!(parse_time_of_day("23:59"), Ok(1439));
        assert_eq!(parse_time_of_day("24:00"), Ok(1440));
        assert!(parse_time_of_day("24:01").is_err());
        assert!(parse_time_of_day("7").is_err());
        assert_eq!(parse_offset("+14:00"), Ok(840));
        assert_eq!(parse_offset("-09:30"), Ok(-570));
        assert!(parse_offset("+14:30").is_err());
        assert!(parse_offset("+99999999:00").is_err() && parse_offset("+71582789:00").is_err());
        assert!(
            parse_duration("1µ").is_err()
                && parse_duration("2ч").is_err()
                && parse_duration("µs").is_err()
        );
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("4h"), Ok(14_400));
        assert_eq!(parse_duration("2d"), Ok(172_800));
        assert!(
            parse_duration("4").is_err()
                && parse_duration("h").is_err()
                && parse_duration("-1h").is_err()
        );
        assert_eq!(weekday(0), 3, "1970-01-01 was a Thursday");
        assert_eq!(
            weekday(parse_instant("2026-11-30T12:00:00Z").unwrap() / DAY),
            0,
            "a Monday"
        );
        assert_eq!(weekday(-1), 2);
        assert_eq!(parse_weekday("Sunday"), Ok(6));
        assert_eq!(format_instant(1_796_133_600), "2026-12-01 14:00 UTC");
        assert_eq!(format_instant(at_leap()), "2024-02-29 23:59 UTC");
        assert_eq!(parse_weekday("mon"), Ok(0));
        assert!(parse_weekday("mo").is_err() && parse_weekday("monkey").is_err());
    }
}
