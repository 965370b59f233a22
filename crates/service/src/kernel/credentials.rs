//! Device and operator credentials.
//!
//! Devices authenticate with HTTP Basic (`device-id:secret`); the server stores only
//! the SHA-256 of the secret (secrets are 256 random bits, so a fast hash is
//! enough) and compares in constant time. Operators use bearer tokens (see
//! [`crate::ops::access`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sluice_protocol::Digest;

use crate::kernel::http::{ApiError, Request};

/// Length of a device secret in random bytes.
pub const SECRET_BYTES: usize = 32;

/// A new device secret from `random`, as 64 lowercase hex digits.
pub fn new_secret(random: [u8; SECRET_BYTES]) -> String {
    Digest::from_bytes(random).to_string()
}

/// What is stored for a secret.
pub fn hash_secret(secret: &str) -> String {
    Digest::of(secret.as_bytes()).to_string()
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a presented token equals the configured one, in time that tells
/// neither where they differ nor the configured token's length (both are
/// hashed to 32 bytes first).
pub fn token_matches(given: &str, configured: &str) -> bool {
    constant_time_eq(
        Digest::of(given.as_bytes()).as_bytes(),
        Digest::of(configured.as_bytes()).as_bytes(),
    )
}

/// Whether `secret` matches the stored hash.
pub fn secret_matches(secret: &str, stored_hash: &str) -> bool {
    constant_time_eq(hash_secret(secret).as_bytes(), stored_hash.as_bytes())
}

/// The device id and secret from an `Authorization: Basic` header.
pub fn device_credentials(request: &Request) -> Result<(String, String), ApiError> {
    let missing =
        || ApiError::unauthorized("device credentials required (HTTP Basic: device-id:secret)");
    let header = request.header_value("authorization").ok_or_else(missing)?;
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))
        .ok_or_else(missing)?;
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| ApiError::unauthorized("malformed Basic credentials"))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| ApiError::unauthorized("malformed Basic credentials"))?;
    let (id, secret) = text
        .split_once(':')
        .ok_or_else(|| ApiError::unauthorized("malformed Basic credentials"))?;
    if !crate::kernel::names::valid_name(id) {
        return Err(ApiError::unauthorized("unknown device or wrong secret"));
    }
    Ok((id.to_owned(), secret.to_owned()))
}

/// Builds an `Authorization: Basic` header value (for clients and tests).
pub fn basic_header(device_id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{device_id}:{secret}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn basic_credentials_round_trip() {
        let req =
            Request::new("GET", "/").header("authorization", &basic_header("cam-1", "s3cret"));
        assert_eq!(
            device_credentials(&req).unwrap(),
            ("cam-1".into(), "s3cret".into())
        );
        let bad = Request::new("GET", "/").header("authorization", "Basic !!!");
        assert_eq!(device_credentials(&bad).unwrap_err().status, 401);
        let none = Request::new("GET", "/");
        assert_eq!(device_credentials(&none).unwrap_err().status, 401);
        let traversal =
            Request::new("GET", "/").header("authorization", &basic_header("../x", "s"));
        assert_eq!(device_credentials(&traversal).unwrap_err().status, 401);
    }
}
