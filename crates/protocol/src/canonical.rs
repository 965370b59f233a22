//! Canonical JSON for signed files.
//!
//! A signed file is accepted only in the exact form Sluice writes it: compact JSON
//! with fields in declaration order and canonical base64. Parsing and re-encoding
//! must reproduce the input byte for byte, so no byte of a signed file can change
//! (whitespace, escapes, field order, base64 padding bits) and still be accepted.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;

/// Encodes `value` in canonical form.
pub(crate) fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain structs of strings and integers cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Decodes `bytes`, refusing anything that is not in canonical form.
pub(crate) fn from_slice<T: Serialize + DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, Error> {
    let value: T = serde_json::from_slice(bytes).map_err(|e| Error::Malformed {
        what,
        reason: e.to_string(),
    })?;
    if to_vec(&value) != bytes {
        return Err(Error::NotCanonical { what });
    }
    Ok(value)
}

/// Serde adapter: bytes as standard base64 with padding; decoding rejects
/// non-canonical encodings.
pub(crate) mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        a: u32,
        #[serde(with = "base64_bytes")]
        b: Vec<u8>,
    }

    #[test]
    fn accepts_exactly_its_own_output() {
        let doc = Doc {
            a: 1,
            b: vec![0xff, 0x00],
        };
        let bytes = to_vec(&doc);
        assert_eq!(bytes, br#"{"a":1,"b":"/wA="}"#);
        assert_eq!(from_slice::<Doc>("doc", &bytes).unwrap(), doc);
    }

    #[test]
    fn refuses_other_spellings_of_the_same_value() {
        for text in [
            r#"{"a":1, "b":"/wA="}"#,
            r#"{"b":"/wA=","a":1}"#,
            "{\"a\":1,\"b\":\"/wA=\"}\n",
            r#"{"a":1,"b":"\/wA="}"#,
            r#"{"a":1.0e0,"b":"/wA="}"#,
        ] {
            let result = from_slice::<Doc>("doc", text.as_bytes());
            assert!(
                matches!(
                    result,
                    Err(Error::NotCanonical { .. }) | Err(Error::Malformed { .. })
                ),
                "{text} was accepted"
            );
        }
        assert!(matches!(
            from_slice::<Doc>("doc", br#"{"b":"/wA=","a":1}"#),
            Err(Error::NotCanonical { what: "doc" })
        ));
        // Non-canonical base64 (trailing bits set) is malformed.
        assert!(matches!(
            from_slice::<Doc>("doc", br#"{"a":1,"b":"/wB="}"#),
            Err(Error::Malformed { .. })
        ));
        assert!(matches!(
            from_slice::<Doc>("doc", br#"{"a":1,"b":"/wA=","c":2}"#),
            Err(Error::Malformed { .. })
        ));
    }
}
