//! Time and randomness from WASI.

use std::time::{SystemTime, UNIX_EPOCH};

use sluice_service::Environment;

/// `wasi:clocks/wall-clock` and `wasi:random/random`.
pub struct WasiEnvironment;

impl Environment for WasiEnvironment {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn fill_random(&self, buf: &mut [u8]) {
        // The host's secure random source failing is not something a request can
        // recover from; refuse to hand out predictable secrets.
        if getrandom::fill(buf).is_err() {
            panic!("wasi:random/random failed");
        }
    }
}
