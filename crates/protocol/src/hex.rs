//! Lowercase hexadecimal, the one spelling Sluice accepts for digests and keys.
//!
//! Decoding is strict (lowercase only, exact length) so that every identifier has
//! exactly one textual form: a digest can be compared as a string, used as a file
//! name, and a mutated spelling never names the same thing.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Encodes bytes as lowercase hex.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Decodes exactly `N` bytes from `2 * N` lowercase hex digits.
pub(crate) fn decode_exact<const N: usize>(text: &str) -> Option<[u8; N]> {
    let raw = text.as_bytes();
    if raw.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(raw.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let bytes = [0x00, 0x01, 0xab, 0xff];
        assert_eq!(encode(&bytes), "0001abff");
        assert_eq!(decode_exact::<4>("0001abff"), Some(bytes));
    }

    #[test]
    fn rejects_other_spellings() {
        assert_eq!(decode_exact::<2>("ABCD"), None, "uppercase");
        assert_eq!(decode_exact::<2>("abc"), None, "short");
        assert_eq!(decode_exact::<2>("abcdef"), None, "long");
        assert_eq!(decode_exact::<2>("abzz"), None, "not hex");
        assert_eq!(decode_exact::<1>("é"), None, "non-ascii");
    }
}
