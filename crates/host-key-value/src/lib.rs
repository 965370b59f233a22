//! The key-value capability of `sluice up`, as Spin provides it: the
//! `fermyon:spin/key-value@2.0.0` interface and `wasi:keyvalue` store, atomics and
//! batch at `0.2.0-draft2`, over any [`Backend`] (SQLite and Redis live in their own
//! crates, as in Spin).
//!
//! A component may open only the store labels listed in its `key_value_stores`;
//! others get `access-denied`, and labels with no backend `no-such-store`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use sluice_host_key_value::{KeyValue, KeyValueView};
//! struct State { kv: KeyValue, table: wasmtime::component::ResourceTable }
//! fn view(s: &mut State) -> KeyValueView<'_> { KeyValueView { kv: &s.kv, table: &mut s.table } }
//! # fn f(engine: &wasmtime::Engine, backend: Arc<dyn sluice_host_key_value::Backend>) -> wasmtime::Result<()> {
//! let mut linker = wasmtime::component::Linker::<State>::new(engine);
//! sluice_host_key_value::add_to_linker(&mut linker, view)?;
//! let kv = KeyValue::new([("default".to_string(), backend)].into_iter().collect(), ["default".to_string()]);
//! # Ok(()) }
//! ```

mod host;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use wasmtime::component::{HasData, Linker, ResourceTable};

pub use host::{CasHandle, OpenStore};

/// A failure of a backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

/// One key-value store (a label of `key_value_stores`).
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error>;
    /// The values of `keys`, each paired with its key; absent keys have `None`.
    async fn get_many(&self, keys: Vec<String>) -> Result<Vec<(String, Option<Vec<u8>>)>, Error>;
    async fn set(&self, key: &str, value: &[u8]) -> Result<(), Error>;
    async fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Result<(), Error>;
    async fn delete(&self, key: &str) -> Result<(), Error>;
    async fn delete_many(&self, keys: Vec<String>) -> Result<(), Error>;
    async fn exists(&self, key: &str) -> Result<bool, Error>;
    async fn keys(&self) -> Result<Vec<String>, Error>;
    /// Atomically adds `delta` (absent is 0) and returns the new value.
    async fn increment(&self, key: &str, delta: i64) -> Result<i64, Error>;
    /// Atomically replaces the value with `new` if it is still `expected`
    /// (`None`: absent). Returns whether it did.
    async fn swap_if(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, Error>;
}

/// The stores one component may use.
#[derive(Clone, Default)]
pub struct KeyValue {
    stores: Arc<HashMap<String, Arc<dyn Backend>>>,
    allowed: Arc<HashSet<String>>,
}

impl KeyValue {
    /// Every configured store, and the labels this component lists.
    pub fn new(
        stores: HashMap<String, Arc<dyn Backend>>,
        allowed: impl IntoIterator<Item = String>,
    ) -> Self {
        KeyValue {
            stores: Arc::new(stores),
            allowed: Arc::new(allowed.into_iter().collect()),
        }
    }
}

/// What the host implementation needs from the store's data.
pub struct KeyValueView<'a> {
    pub kv: &'a KeyValue,
    pub table: &'a mut ResourceTable,
}

struct KeyValueData;

impl HasData for KeyValueData {
    type Data<'a> = KeyValueView<'a>;
}

/// Adds every key-value interface to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> KeyValueView<'_>,
) -> wasmtime::Result<()> {
    host::bindings::fermyon::spin::key_value::add_to_linker::<T, KeyValueData>(linker, get)?;
    host::bindings::wasi::keyvalue::store::add_to_linker::<T, KeyValueData>(linker, get)?;
    host::bindings::wasi::keyvalue::atomics::add_to_linker::<T, KeyValueData>(linker, get)?;
    host::bindings::wasi::keyvalue::batch::add_to_linker::<T, KeyValueData>(linker, get)?;
    Ok(())
}
