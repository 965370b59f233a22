//! The manifest: what a release is, for which hardware, and the chunks it is made of.

use serde::{Deserialize, Serialize};

use crate::{Digest, Error, KeyId, Limits};

/// Payload type of a manifest envelope.
pub const MANIFEST_TYPE: &str = "application/vnd.sluice.manifest.v1+json";

/// The manifest format this crate writes and understands.
pub const MANIFEST_FORMAT: u32 = 1;

/// The signed description of one firmware image.
///
/// Unknown fields are refused: a field a device does not understand could be a
/// constraint it would silently ignore. New fields come with a new `format`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: u32,
    /// The release's version string, e.g. `2.4.1`.
    pub version: String,
    /// Hardware ids this image may be installed on.
    pub hardware: Vec<String>,
    /// Anti-rollback counter: a device refuses any release below the security
    /// version it has committed.
    pub security_version: u64,
    /// When the manifest was signed (unix seconds).
    pub created_at: u64,
    /// After this instant (unix seconds) no device accepts the manifest.
    pub expires_at: u64,
    /// The signing key; must be the key that signed the envelope.
    pub key_id: KeyId,
    /// The whole image.
    pub image: ImageInfo,
    /// The image's chunks, in order, contiguous from offset 0.
    pub chunks: Vec<ChunkRef>,
}

/// Size and digest of the whole image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageInfo {
    pub size: u64,
    pub sha256: Digest,
}

/// One content-addressed chunk of the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkRef {
    /// The chunk's address.
    pub sha256: Digest,
    /// Where the chunk starts in the image.
    pub offset: u64,
    /// The chunk's length in bytes (never 0).
    pub size: u64,
}

impl Manifest {
    /// Checks that every field is in range and that the chunks tile the image.
    pub fn validate(&self, limits: &Limits) -> Result<(), Error> {
        if self.format != MANIFEST_FORMAT {
            return Err(Error::UnsupportedFormat {
                what: "manifest",
                found: self.format,
                supported: MANIFEST_FORMAT,
            });
        }
        check_name("version", &self.version, limits)?;
        if self.hardware.is_empty() {
            return Err(invalid("hardware", "must name at least one hardware id"));
        }
        if self.hardware.len() > limits.max_hardware_ids {
            return Err(invalid(
                "hardware",
                format!(
                    "names {} ids, the limit is {}",
                    self.hardware.len(),
                    limits.max_hardware_ids
                ),
            ));
        }
        for (i, hw) in self.hardware.iter().enumerate() {
            check_name(&format!("hardware[{i}]"), hw, limits)?;
            if self.hardware[..i].contains(hw) {
                return Err(invalid(
                    format!("hardware[{i}]"),
                    format!("{hw:?} is listed twice"),
                ));
            }
        }
        if self.expires_at <= self.created_at {
            return Err(invalid(
                "expires_at",
                format!(
                    "{} is not after created_at {}",
                    self.expires_at, self.created_at
                ),
            ));
        }
        if self.chunks.len() > limits.max_chunks {
            return Err(invalid(
                "chunks",
                format!(
                    "{} chunks, the limit is {}",
                    self.chunks.len(),
                    limits.max_chunks
                ),
            ));
        }
        let mut offset = 0u64;
        for (i, chunk) in self.chunks.iter().enumerate() {
            if chunk.offset != offset {
                return Err(invalid(
                    format!("chunks[{i}].offset"),
                    format!(
                        "is {}, expected {offset} (chunks must be contiguous)",
                        chunk.offset
                    ),
                ));
            }
            if chunk.size == 0 || chunk.size > limits.max_chunk_size {
                return Err(invalid(
                    format!("chunks[{i}].size"),
                    format!("is {}, must be 1..={}", chunk.size, limits.max_chunk_size),
                ));
            }
            offset += chunk.size;
        }
        if offset != self.image.size {
            return Err(invalid(
                "image.size",
                format!("is {}, but the chunks add up to {offset}", self.image.size),
            ));
        }
        Ok(())
    }

    /// Whether `hardware` is one of the ids this image is built for.
    pub fn supports_hardware(&self, hardware: &str) -> bool {
        self.hardware.iter().any(|h| h == hardware)
    }
}

/// Version strings and hardware ids: 1 to `max_name_len` characters from
/// `A-Z a-z 0-9 . _ - + ~`, so they are safe in URLs, file names and logs.
fn check_name(field: &str, value: &str, limits: &Limits) -> Result<(), Error> {
    if is_valid_name(value, limits.max_name_len) {
        return Ok(());
    }
    if value.is_empty() || value.len() > limits.max_name_len {
        return Err(invalid(
            field,
            format!("must be 1 to {} characters long", limits.max_name_len),
        ));
    }
    if let Some(bad) = value.chars().find(|c| !is_name_char(*c)) {
        return Err(invalid(
            field,
            format!("{value:?} contains {bad:?}; allowed are letters, digits and . _ - + ~"),
        ));
    }
    Err(invalid(field, format!("{value:?} is not a name")))
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '~')
}

/// Whether `value` is usable as a version, hardware id or any other name Sluice
/// puts in URLs, keys and file names: 1 to `max_len` characters from
/// `A-Z a-z 0-9 . _ - + ~`.
///
/// ```
/// assert!(sluice_protocol::is_valid_name("cam-v2.1", 128));
/// assert!(!sluice_protocol::is_valid_name("../etc", 128));
/// ```
pub fn is_valid_name(value: &str, max_len: usize) -> bool {
    !value.is_empty()
        && value.len() <= max_len
        && value.chars().all(is_name_char)
        && value != "."
        && value != ".."
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::InvalidManifest {
        field: field.into(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let data = b"hello world";
        Manifest {
            format: MANIFEST_FORMAT,
            version: "1.0.0".into(),
            hardware: vec!["cam-v2".into()],
            security_version: 1,
            created_at: 100,
            expires_at: 200,
            key_id: "0011223344556677".parse().unwrap(),
            image: ImageInfo {
                size: 11,
                sha256: Digest::of(data),
            },
            chunks: vec![
                ChunkRef {
                    sha256: Digest::of(&data[..6]),
                    offset: 0,
                    size: 6,
                },
                ChunkRef {
                    sha256: Digest::of(&data[6..]),
                    offset: 6,
                    size: 5,
                },
            ],
        }
    }

    fn field_of(result: Result<(), Error>) -> String {
        match result {
            Err(Error::InvalidManifest { field, .. }) => field,
            other => panic!("expected InvalidManifest, got {other:?}"),
        }
    }

    #[test]
    fn sample_is_valid() {
        sample().validate(&Limits::default()).unwrap();
    }

    #[test]
    fn each_broken_field_is_named() {
        let limits = Limits::default();
        let mut m = sample();
        m.chunks[1].offset = 7;
        assert_eq!(field_of(m.validate(&limits)), "chunks[1].offset");
        let mut m = sample();
        m.chunks[0].size = 0;
        assert_eq!(field_of(m.validate(&limits)), "chunks[0].size");
        let mut m = sample();
        m.image.size = 12;
        assert_eq!(field_of(m.validate(&limits)), "image.size");
        let mut m = sample();
        m.version = "1.0 beta".into();
        assert_eq!(field_of(m.validate(&limits)), "version");
        let mut m = sample();
        m.hardware = vec![];
        assert_eq!(field_of(m.validate(&limits)), "hardware");
        let mut m = sample();
        m.hardware = vec!["a".into(), "a".into()];
        assert_eq!(field_of(m.validate(&limits)), "hardware[1]");
        let mut m = sample();
        m.expires_at = m.created_at;
        assert_eq!(field_of(m.validate(&limits)), "expires_at");
        let mut m = sample();
        m.format = 2;
        assert!(matches!(
            m.validate(&limits),
            Err(Error::UnsupportedFormat { found: 2, .. })
        ));
    }

    #[test]
    fn chunk_count_and_size_are_capped() {
        let limits = Limits {
            max_chunks: 1,
            ..Limits::default()
        };
        assert_eq!(field_of(sample().validate(&limits)), "chunks");
        let limits = Limits {
            max_chunk_size: 5,
            ..Limits::default()
        };
        assert_eq!(field_of(sample().validate(&limits)), "chunks[0].size");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut json: serde_json::Value = serde_json::to_value(sample()).unwrap();
        json["install_anyway"] = true.into();
        assert!(serde_json::from_value::<Manifest>(json).is_err());
    }
}
