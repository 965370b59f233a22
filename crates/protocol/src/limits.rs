//! Size caps, so that no input can make a verifier or the service read, hash or
//! allocate without bound.

/// The default chunk size: 256 KiB.
///
/// The largest power of two that fits in one value of every key-value backend a
/// Spin host offers (DynamoDB's item limit is 400 KB; Cosmos DB's 2 MB; Redis and
/// SQLite far more), so that a chunk is one key-value entry everywhere. It keeps a
/// resumed download's loss to at most 256 KiB and a device's verify buffer small,
/// while a 64 MiB image still needs only 256 chunks and a ~30 KB manifest.
pub const DEFAULT_CHUNK_SIZE: u32 = 256 * 1024;

/// Caps applied when building and verifying releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest signed manifest file accepted, in bytes.
    pub max_manifest_bytes: usize,
    /// Most chunks one image may have.
    pub max_chunks: usize,
    /// Largest single chunk, in bytes.
    pub max_chunk_size: u64,
    /// Most hardware ids one manifest may name.
    pub max_hardware_ids: usize,
    /// Longest version string or hardware id, in bytes.
    pub max_name_len: usize,
}

impl Limits {
    /// The largest image these limits allow.
    pub fn max_image_size(&self) -> u64 {
        self.max_chunk_size.saturating_mul(self.max_chunks as u64)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // 32,768 chunk entries take about 5 MiB once base64-encoded.
            max_manifest_bytes: 8 * 1024 * 1024,
            max_chunks: 32 * 1024,
            max_chunk_size: 16 * 1024 * 1024,
            max_hardware_ids: 64,
            max_name_len: 128,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_chunk_fits_the_smallest_backend_value() {
        assert!(DEFAULT_CHUNK_SIZE.is_power_of_two());
        assert!(u64::from(DEFAULT_CHUNK_SIZE) < 400_000);
        assert!(u64::from(DEFAULT_CHUNK_SIZE) <= Limits::default().max_chunk_size);
    }
}
