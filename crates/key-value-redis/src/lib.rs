//! The shared key-value store: Redis, selected in the runtime-config file exactly as
//! Spin reads it (`[key_value_store.default] type = "redis" url = "redis://…"`).
//!
//! Counters use `INCRBY` (decimal text, as in Spin). Compare-and-swap runs as one
//! Lua script, atomic on the server, on the shared auto-reconnecting connection, so
//! a Redis restart costs a retry, never a host restart.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use sluice_host_key_value::Backend;
//! let store = sluice_key_value_redis::RedisStore::connect("redis://127.0.0.1:6379").await?;
//! assert!(store.swap_if("lock", None, b"mine").await?);
//! # Ok(()) }
//! ```

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use sluice_host_key_value::{Backend, Error};

/// Sets KEYS[1] to ARGV[3] if it is absent (ARGV[1] = "0") or equals ARGV[2].
/// (Sluice's components run the same script when they talk to Redis directly.)
const SWAP_IF: &str = include_str!("swap_if.lua");

/// A Redis server as a key-value store.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    swap: redis::Script,
}

fn err(e: redis::RedisError) -> Error {
    Error(format!("redis: {e}"))
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port[/db]`).
    pub async fn connect(url: &str) -> Result<RedisStore, Error> {
        let client = redis::Client::open(url).map_err(err)?;
        let connection = ConnectionManager::new(client).await.map_err(err)?;
        Ok(RedisStore {
            connection,
            swap: redis::Script::new(SWAP_IF),
        })
    }

    fn conn(&self) -> ConnectionManager {
        self.connection.clone()
    }
}

#[async_trait::async_trait]
impl Backend for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.conn().get(key).await.map_err(err)
    }

    async fn get_many(&self, keys: Vec<String>) -> Result<Vec<(String, Option<Vec<u8>>)>, Error> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut self.conn())
            .await
            .map_err(err)?;
        Ok(keys.into_iter().zip(values).collect())
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.conn().set(key, value).await.map_err(err)
    }

    async fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        if pairs.is_empty() {
            return Ok(());
        }
        self.conn().mset(&pairs).await.map_err(err)
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        self.conn().del(key).await.map_err(err)
    }

    async fn delete_many(&self, keys: Vec<String>) -> Result<(), Error> {
        if keys.is_empty() {
            return Ok(());
        }
        self.conn().del(keys).await.map_err(err)
    }

    async fn exists(&self, key: &str) -> Result<bool, Error> {
        self.conn().exists(key).await.map_err(err)
    }

    async fn keys(&self) -> Result<Vec<String>, Error> {
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut self.conn())
                .await
                .map_err(err)?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        self.conn().incr(key, delta).await.map_err(err)
    }

    async fn swap_if(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, Error> {
        let mut invocation = self.swap.key(key);
        match expected {
            Some(old) => invocation.arg("1").arg(old),
            None => invocation.arg("0").arg(""),
        };
        let swapped: i64 = invocation
            .arg(new)
            .invoke_async(&mut self.conn())
            .await
            .map_err(err)?;
        Ok(swapped == 1)
    }
}
