//! The WIT interfaces implemented over [`Backend`]s.

use std::sync::Arc;

use wasmtime::component::Resource;

use crate::{Backend, KeyValueView};

pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "sluice:host-key-value/key-value",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/key-value.store": crate::host::OpenStore,
            "wasi:keyvalue/store.bucket": crate::host::OpenStore,
            "wasi:keyvalue/atomics.cas": crate::host::CasHandle,
        },
    });
}

use bindings::fermyon::spin::key_value as spin_kv;
use bindings::wasi::keyvalue::{atomics, batch, store};

/// An open store (a Spin `store` or a `wasi:keyvalue` `bucket`).
pub struct OpenStore {
    backend: Arc<dyn Backend>,
}

/// A compare-and-swap in progress: the value read when it began.
pub struct CasHandle {
    backend: Arc<dyn Backend>,
    key: String,
    current: Option<Vec<u8>>,
}

enum OpenError {
    AccessDenied,
    NoSuchStore,
}

impl KeyValueView<'_> {
    fn open_store(
        &mut self,
        label: &str,
    ) -> wasmtime::Result<Result<Resource<OpenStore>, OpenError>> {
        if !self.kv.allowed.contains(label) {
            return Ok(Err(OpenError::AccessDenied));
        }
        let Some(backend) = self.kv.stores.get(label) else {
            return Ok(Err(OpenError::NoSuchStore));
        };
        Ok(Ok(self.table.push(OpenStore {
            backend: backend.clone(),
        })?))
    }

    fn backend(&self, store: &Resource<OpenStore>) -> wasmtime::Result<Arc<dyn Backend>> {
        Ok(self.table.get(store)?.backend.clone())
    }
}

fn spin_err(e: crate::Error) -> spin_kv::Error {
    spin_kv::Error::Other(e.0)
}

fn wasi_err(e: crate::Error) -> store::Error {
    store::Error::Other(e.0)
}

impl spin_kv::Host for KeyValueView<'_> {}

impl spin_kv::HostStore for KeyValueView<'_> {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<OpenStore>, spin_kv::Error>> {
        Ok(self.open_store(&label)?.map_err(|e| match e {
            OpenError::AccessDenied => spin_kv::Error::AccessDenied,
            OpenError::NoSuchStore => spin_kv::Error::NoSuchStore,
        }))
    }

    async fn get(
        &mut self,
        s: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, spin_kv::Error>> {
        Ok(self.backend(&s)?.get(&key).await.map_err(spin_err))
    }

    async fn set(
        &mut self,
        s: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        Ok(self.backend(&s)?.set(&key, &value).await.map_err(spin_err))
    }

    async fn delete(
        &mut self,
        s: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        Ok(self.backend(&s)?.delete(&key).await.map_err(spin_err))
    }

    async fn exists(
        &mut self,
        s: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin_kv::Error>> {
        Ok(self.backend(&s)?.exists(&key).await.map_err(spin_err))
    }

    async fn get_keys(
        &mut self,
        s: Resource<OpenStore>,
    ) -> wasmtime::Result<Result<Vec<String>, spin_kv::Error>> {
        Ok(self.backend(&s)?.keys().await.map_err(spin_err))
    }

    async fn drop(&mut self, s: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(s)?;
        Ok(())
    }
}

impl store::Host for KeyValueView<'_> {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<OpenStore>, store::Error>> {
        Ok(self.open_store(&identifier)?.map_err(|e| match e {
            OpenError::AccessDenied => store::Error::AccessDenied,
            OpenError::NoSuchStore => store::Error::NoSuchStore,
        }))
    }
}

impl store::HostBucket for KeyValueView<'_> {
    async fn get(
        &mut self,
        b: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, store::Error>> {
        Ok(self.backend(&b)?.get(&key).await.map_err(wasi_err))
    }

    async fn set(
        &mut self,
        b: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        Ok(self.backend(&b)?.set(&key, &value).await.map_err(wasi_err))
    }

    async fn delete(
        &mut self,
        b: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        Ok(self.backend(&b)?.delete(&key).await.map_err(wasi_err))
    }

    async fn exists(
        &mut self,
        b: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, store::Error>> {
        Ok(self.backend(&b)?.exists(&key).await.map_err(wasi_err))
    }

    async fn list_keys(
        &mut self,
        b: Resource<OpenStore>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<store::KeyResponse, store::Error>> {
        if cursor.is_some() {
            return Ok(Err(store::Error::Other(
                "list-keys: cursors are not supported".into(),
            )));
        }
        Ok(self
            .backend(&b)?
            .keys()
            .await
            .map(|keys| store::KeyResponse { keys, cursor: None })
            .map_err(wasi_err))
    }

    async fn drop(&mut self, b: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(b)?;
        Ok(())
    }
}

impl atomics::Host for KeyValueView<'_> {
    async fn increment(
        &mut self,
        b: Resource<OpenStore>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, store::Error>> {
        Ok(self
            .backend(&b)?
            .increment(&key, delta)
            .await
            .map_err(wasi_err))
    }

    async fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let handle = self.table.delete(cas)?;
        match handle
            .backend
            .swap_if(&handle.key, handle.current.as_deref(), &value)
            .await
        {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                // Hand back a fresh CAS on the value that won, as Spin does.
                let current = match handle.backend.get(&handle.key).await {
                    Ok(current) => current,
                    Err(e) => return Ok(Err(atomics::CasError::StoreError(wasi_err(e)))),
                };
                let fresh = self.table.push(CasHandle {
                    backend: handle.backend,
                    key: handle.key,
                    current,
                })?;
                Ok(Err(atomics::CasError::CasFailed(fresh)))
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(wasi_err(e)))),
        }
    }
}

impl atomics::HostCas for KeyValueView<'_> {
    async fn new(
        &mut self,
        b: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<CasHandle>, store::Error>> {
        let backend = self.backend(&b)?;
        let current = match backend.get(&key).await {
            Ok(current) => current,
            Err(e) => return Ok(Err(wasi_err(e))),
        };
        Ok(Ok(self.table.push(CasHandle {
            backend,
            key,
            current,
        })?))
    }

    async fn current(
        &mut self,
        cas: Resource<CasHandle>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, store::Error>> {
        Ok(Ok(self.table.get(&cas)?.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for KeyValueView<'_> {
    async fn get_many(
        &mut self,
        b: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, store::Error>> {
        Ok(self.backend(&b)?.get_many(keys).await.map_err(wasi_err))
    }

    async fn set_many(
        &mut self,
        b: Resource<OpenStore>,
        pairs: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        Ok(self.backend(&b)?.set_many(pairs).await.map_err(wasi_err))
    }

    async fn delete_many(
        &mut self,
        b: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        Ok(self.backend(&b)?.delete_many(keys).await.map_err(wasi_err))
    }
}
