//! The names Sluice stores and routes by: device, hardware, release,
//! campaign, freeze and operator ids, versions, failure codes and attribute
//! names. One rule for all (the release format's, [`sluice_protocol::is_valid_name`]):
//! letters, digits and `. _ - + ~`, at most [`MAX_NAME_LEN`] bytes, never `.`
//! or `..`, so a name is safe in a store key, a URL path and a log line, and
//! has no `:` to make HTTP Basic credentials ambiguous.
//!
//! ```
//! use sluice_service::kernel::names::valid_name;
//!
//! assert!(valid_name("cam-0001") && valid_name("2.4.1+lab"));
//! assert!(!valid_name("..") && !valid_name("admin:alice") && !valid_name(""));
//! ```

/// Longest name, in bytes (also the longest device tag).
pub const MAX_NAME_LEN: usize = 128;

/// Whether `name` follows the rule above.
pub fn valid_name(name: &str) -> bool {
    sluice_protocol::is_valid_name(name, MAX_NAME_LEN)
}
