//! The service: a store, a policy, configuration and the environment (clock,
//! randomness), handed to every handler.

use sluice_policy::Policy;

use crate::kernel::config::Config;
use crate::kernel::store::Store;

/// Time and randomness, which components take from WASI and tests control.
pub trait Environment {
    /// Unix seconds.
    fn now(&self) -> u64;
    /// Fills `buf` with cryptographically secure random bytes.
    fn fill_random(&self, buf: &mut [u8]);
}

/// Everything a request handler needs.
pub struct Service<'a> {
    pub store: &'a dyn Store,
    pub policy: &'a dyn Policy,
    pub config: &'a Config,
    pub env: &'a dyn Environment,
}
