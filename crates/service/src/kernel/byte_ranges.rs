//! HTTP `Range` requests (RFC 9110 §14) against a body of known length: chunks
//! answer a single range, DDI artifacts any number of them (`multipart/byteranges`).

/// Bytes `start..=end` of a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    /// How many bytes the range covers.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Never true: a range covers at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The `Content-Range` value for a body of `total` bytes.
    pub fn content_range(&self, total: u64) -> String {
        format!("bytes {}-{}/{total}", self.start, self.end)
    }
}

/// What a `Range` header asks of a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ranges {
    /// No range, a unit other than bytes, or more ranges than are served: the whole body.
    Full,
    /// One or more satisfiable ranges, sorted, with overlapping and adjacent
    /// ranges merged (as RFC 9110 §14.2 allows), so no byte is sent twice.
    Satisfiable(Vec<ByteRange>),
    /// Malformed, or no range overlaps the body: 416.
    Unsatisfiable,
}

/// More ranges than this in one request are answered with the whole body: a
/// request for thousands of tiny ranges costs the server far more than the bytes.
pub const MAX_RANGES: usize = 16;

/// Parses a `Range` header against a body of `len` bytes.
///
/// ```
/// use sluice_service::kernel::byte_ranges::{ByteRange, Ranges, parse};
/// assert_eq!(
///     parse(Some("bytes=0-1, 8-"), 10),
///     Ranges::Satisfiable(vec![ByteRange { start: 0, end: 1 }, ByteRange { start: 8, end: 9 }])
/// );
/// assert_eq!(parse(None, 10), Ranges::Full);
/// assert_eq!(parse(Some("bytes=10-"), 10), Ranges::Unsatisfiable);
/// ```
pub fn parse(header: Option<&str>, len: u64) -> Ranges {
    let Some(header) = header else {
        return Ranges::Full;
    };
    let Some(specs) = header.trim().strip_prefix("bytes=") else {
        return Ranges::Full;
    };
    let specs: Vec<&str> = specs
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if specs.len() > MAX_RANGES {
        return Ranges::Full;
    }
    let mut ranges = Vec::with_capacity(specs.len());
    for spec in specs {
        match parse_spec(spec, len) {
            Spec::Malformed => return Ranges::Unsatisfiable,
            Spec::Outside => {}
            Spec::Range(range) => ranges.push(range),
        }
    }
    if ranges.is_empty() {
        return Ranges::Unsatisfiable;
    }
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<ByteRange> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end.saturating_add(1) => {
                last.end = last.end.max(range.end);
            }
            _ => merged.push(range),
        }
    }
    Ranges::Satisfiable(merged)
}

enum Spec {
    Malformed,
    /// Well-formed, but starts beyond the body.
    Outside,
    Range(ByteRange),
}

fn parse_spec(spec: &str, len: u64) -> Spec {
    let Some((first, last)) = spec.split_once('-') else {
        return Spec::Malformed;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    let (first, last) = (first.trim(), last.trim());
    match (first.is_empty(), last.is_empty()) {
        // -N: the last N bytes.
        (true, false) => match number(last) {
            Some(0) => Spec::Outside,
            Some(_) if len == 0 => Spec::Outside,
            Some(n) => Spec::Range(ByteRange {
                start: len.saturating_sub(n),
                end: len - 1,
            }),
            None => Spec::Malformed,
        },
        // N-: from N to the end.
        (false, true) => match number(first) {
            Some(start) if start < len => Spec::Range(ByteRange {
                start,
                end: len - 1,
            }),
            Some(_) => Spec::Outside,
            None => Spec::Malformed,
        },
        // N-M
        (false, false) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start > end => Spec::Malformed,
            (Some(start), Some(end)) if start < len => Spec::Range(ByteRange {
                start,
                end: end.min(len - 1),
            }),
            (Some(_), Some(_)) => Spec::Outside,
            _ => Spec::Malformed,
        },
        (true, true) => Spec::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    #[test]
    fn single_ranges() {
        use Ranges::*;
        assert_eq!(parse(None, 10), Full);
        assert_eq!(parse(Some("bytes=0-3"), 10), Satisfiable(vec![r(0, 3)]));
        assert_eq!(parse(Some("bytes=4-"), 10), Satisfiable(vec![r(4, 9)]));
        assert_eq!(parse(Some("bytes=-3"), 10), Satisfiable(vec![r(7, 9)]));
        assert_eq!(parse(Some("bytes=-30"), 10), Satisfiable(vec![r(0, 9)]));
        assert_eq!(parse(Some("bytes=5-100"), 10), Satisfiable(vec![r(5, 9)]));
        assert_eq!(parse(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=5-2"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=abc"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=+1-2"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=-"), 10), Unsatisfiable);
        assert_eq!(parse(Some("items=0-1"), 10), Full);
        assert_eq!(parse(Some("bytes=0-0"), 0), Unsatisfiable);
        assert_eq!(
            parse(Some("bytes=18446744073709551616-"), 10),
            Unsatisfiable
        );
    }

    #[test]
    fn several_ranges_are_sorted_and_merged() {
        use Ranges::*;
        assert_eq!(
            parse(Some("bytes=8-9, 0-1"), 10),
            Satisfiable(vec![r(0, 1), r(8, 9)])
        );
        // Overlapping and adjacent ranges become one; no byte is sent twice.
        assert_eq!(
            parse(Some("bytes=0-4,3-6,7-7,-1"), 10),
            Satisfiable(vec![r(0, 7), r(9, 9)])
        );
        // A range beyond the body is dropped when another one is satisfiable.
        assert_eq!(
            parse(Some("bytes=0-1,20-30"), 10),
            Satisfiable(vec![r(0, 1)])
        );
        assert_eq!(parse(Some("bytes=20-30,40-"), 10), Unsatisfiable);
        // One malformed range spoils the header.
        assert_eq!(parse(Some("bytes=0-1,x-2"), 10), Unsatisfiable);
        // Empty list elements are allowed.
        assert_eq!(parse(Some("bytes=,0-1,"), 10), Satisfiable(vec![r(0, 1)]));
        let many = (0..=MAX_RANGES)
            .map(|i| format!("{i}-{i}"))
            .collect::<Vec<_>>();
        assert_eq!(parse(Some(&format!("bytes={}", many.join(","))), 100), Full);
    }
}
