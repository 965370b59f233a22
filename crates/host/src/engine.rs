//! The wasmtime engine, the linker of host capabilities, and compiled-component
//! caching.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Most component instances alive at once (one per request in flight).
pub const MAX_INSTANCES: u32 = 1000;

/// How often the engine's epoch advances.
pub const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(100);

/// Longest a request's instance may live (in epoch ticks: 10 minutes), however
/// slow its client; a guest that loops yields every tick until then, so it can
/// never starve the host's threads.
pub const REQUEST_DEADLINE_TICKS: u64 = 6000;

/// Per-request state: WASI, HTTP, key-value, outbound Redis and variables.
pub struct HostState {
    pub table: ResourceTable,
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub hooks: crate::outbound::OutboundHttp,
    pub kv: sluice_host_key_value::KeyValue,
    pub redis: sluice_host_redis::OutboundRedis,
    pub variables: sluice_host_variables::Variables,
    pub limits: StoreLimits,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// An engine with the pooling allocator (falling back to on-demand allocation
/// where the machine cannot reserve the pool's address space).
pub fn engine() -> Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(MAX_INSTANCES)
        .total_core_instances(MAX_INSTANCES * 16)
        .total_memories(MAX_INSTANCES * 4)
        .total_tables(MAX_INSTANCES * 4)
        .total_stacks(MAX_INSTANCES)
        .max_core_instances_per_component(64)
        .max_memories_per_component(16)
        .max_tables_per_component(16)
        .max_memory_size(512 << 20)
        // Resetting an instance's memory with madvise costs a TLB shootdown
        // across every core per request. Keep the first 4 MiB of each memory
        // (enough for a check-in, and for a 1 MiB chunk passing through) and
        // tables resident, reset them with memset, touching only the pages
        // that were written where the kernel can say which (Linux 6.7+), and
        // batch the decommits of the rest. `sluice bench`: check-in 4.1k ->
        // 10.3k req/s, hello 10.5k -> 39k req/s, 1 MiB chunks 1.5 -> 2.5 GB/s.
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(64 << 10)
        .pagemap_scan(wasmtime::Enabled::Auto)
        .decommit_batch_size(16);
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = match Engine::new(&config) {
        Ok(engine) => engine,
        Err(e) => {
            tracing::warn!("pooling allocator unavailable ({e}); allocating instances on demand");
            let mut config = Config::new();
            config.wasm_component_model(true);
            config.epoch_interruption(true);
            Engine::new(&config)?
        }
    };
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("sluice-epoch".into())
        .spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
    Ok(engine)
}

/// The linker every component is instantiated with.
pub fn linker(engine: &Engine) -> Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    sluice_host_key_value::add_to_linker(&mut linker, |s: &mut HostState| {
        sluice_host_key_value::KeyValueView {
            kv: &s.kv,
            table: &mut s.table,
        }
    })?;
    sluice_host_redis::add_to_linker(&mut linker, |s: &mut HostState| {
        sluice_host_redis::RedisView {
            redis: &s.redis,
            table: &mut s.table,
        }
    })?;
    sluice_host_variables::add_to_linker(&mut linker, |s: &mut HostState| &s.variables)?;
    Ok(linker)
}

/// Where compiled components are kept between runs.
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("sluice").join("compiled")
}

/// Compiles `bytes`, or loads the artifact compiled earlier by an engine with the
/// same settings.
pub fn load_component(engine: &Engine, bytes: &[u8], cache_dir: &Path) -> Result<Component> {
    let mut settings = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut settings);
    let key = format!("{:x}-{:016x}", Sha256::digest(bytes), settings.finish());
    let path = cache_dir.join(format!("{key}.cwasm"));
    if path.exists() {
        // SAFETY: the file was written by `serialize` below, from this cache key.
        // Incompatible or damaged artifacts fail to load and are rebuilt.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok(component),
            Err(e) => tracing::warn!("recompiling: cached {} unusable: {e}", path.display()),
        }
    }
    let component = Component::new(engine, bytes)
        .map_err(anyhow::Error::from)
        .context("compiling component")?;
    if std::fs::create_dir_all(cache_dir).is_ok() {
        let tmp = cache_dir.join(format!("{key}.{}.tmp", std::process::id()));
        if let Ok(artifact) = component.serialize()
            && std::fs::write(&tmp, artifact).is_ok()
        {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
    Ok(component)
}

/// The response body type the server uses for everything.
pub type Body = HyperOutgoingBody;
