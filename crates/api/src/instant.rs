//! Instants in admin requests: unix seconds, or RFC 3339 text
//! (`"2026-12-01T18:00:00Z"`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sluice_policy::calendar::parse_instant;

/// An instant as an operator writes it, in unix seconds once parsed; sent as
/// seconds.
///
/// ```
/// # use sluice_api::instant::Instant;
/// let a: Instant = serde_json::from_str("\"2026-12-01T18:00:00Z\"").unwrap();
/// let b: Instant = serde_json::from_str("1796148000").unwrap();
/// assert_eq!(a, b);
/// assert_eq!(serde_json::to_string(&a).unwrap(), "1796148000");
/// assert!(serde_json::from_str::<Instant>("\"tomorrow\"").is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instant(pub u64);

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Seconds(u64),
            Text(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Seconds(s) => Ok(Instant(s)),
            Written::Text(text) => parse_instant(&text)
                .and_then(|s| {
                    u64::try_from(s).map_err(|_| format!("instant {text:?} is before 1970"))
                })
                .map(Instant)
                .map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for Instant {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

/// Answers send seconds; requests may also carry RFC 3339 text.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for Instant {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Instant".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Unix seconds; a request may also write RFC 3339 text (\"2026-12-01T18:00:00Z\").",
            "oneOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "format": "date-time"}
            ]
        })
    }
}
