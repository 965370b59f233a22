//! The store as a Redis server spoken to directly, through Spin's outbound
//! Redis (`fermyon:spin/redis@2.0.0`), when the `store_redis_url` variable is
//! set: batch reads are one `MGET` and compare-and-swap one Lua script, atomic
//! on the server — the two operations Spin 4.0.2's Redis key-value backend gets
//! wrong (see `kv`). Keys and values are exactly those of Spin's Redis
//! key-value backend (counters are `INCRBY` decimal text), so the same Redis
//! serves both, and the component must list the origin in
//! `allowed_outbound_hosts`.

use sluice_service::{Store, StoreError};
use spin_sdk::redis::{Connection, Error, RedisParameter, RedisResult};

/// Compare-and-swap as Redis runs it atomically (the script `sluice up`'s own
/// Redis backend runs).
const SWAP_IF: &str = include_str!("../../key-value-redis/src/swap_if.lua");

/// A connection to the Redis server that holds the store.
pub struct RedisStore {
    connection: Connection,
}

fn err(e: Error) -> StoreError {
    StoreError(match e {
        Error::InvalidAddress => "redis: store_redis_url is not a redis:// address this \
             component may reach (is store_redis_origin its origin, in allowed_outbound_hosts?)"
            .into(),
        Error::TooManyConnections => "redis: too many connections".into(),
        Error::TypeError => "redis: a value of the wrong type".into(),
        Error::Other(message) => format!("redis: {message}"),
    })
}

fn binary(bytes: &[u8]) -> RedisParameter {
    RedisParameter::Binary(bytes.to_vec())
}

/// The integer a command answered.
fn integer(command: &str, results: Vec<RedisResult>) -> Result<i64, StoreError> {
    match results.as_slice() {
        [RedisResult::Int64(n)] => Ok(*n),
        other => Err(StoreError(format!(
            "redis: {command} answered {} results, not one integer",
            other.len()
        ))),
    }
}

/// A value as `MGET` answers it.
fn value(result: RedisResult) -> Result<Option<Vec<u8>>, StoreError> {
    match result {
        RedisResult::Nil => Ok(None),
        RedisResult::Binary(bytes) => Ok(Some(bytes)),
        RedisResult::Status(text) => Ok(Some(text.into_bytes())),
        RedisResult::Int64(n) => Ok(Some(n.to_string().into_bytes())),
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://[:password@]host[:port][/db]`).
    pub fn open(url: &str) -> Result<RedisStore, StoreError> {
        Ok(RedisStore {
            connection: Connection::open(url).map_err(err)?,
        })
    }

    fn execute(
        &self,
        command: &str,
        arguments: &[RedisParameter],
    ) -> Result<Vec<RedisResult>, StoreError> {
        self.connection.execute(command, arguments).map_err(err)
    }
}

impl Store for RedisStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.connection.get(key).map_err(err)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.len() < 2 {
            return keys.iter().map(|k| self.get(k)).collect();
        }
        let arguments: Vec<RedisParameter> = keys.iter().map(|k| binary(k.as_bytes())).collect();
        let results = self.execute("MGET", &arguments)?;
        if results.len() != keys.len() {
            return Err(StoreError(format!(
                "redis: MGET of {} keys answered {} values",
                keys.len(),
                results.len()
            )));
        }
        results.into_iter().map(value).collect()
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.connection.set(key, value).map_err(err)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.connection
            .del(&[key.to_owned()])
            .map_err(err)
            .map(drop)
    }

    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let found = self.execute("EXISTS", &[binary(key.as_bytes())])?;
        Ok(integer("EXISTS", found)? > 0)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let found = self.execute(
            "INCRBY",
            &[binary(key.as_bytes()), RedisParameter::Int64(delta)],
        )?;
        integer("INCRBY", found)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let (present, old) = match expected {
            Some(old) => ("1", old),
            None => ("0", &b""[..]),
        };
        let swapped = self.execute(
            "EVAL",
            &[
                binary(SWAP_IF.as_bytes()),
                RedisParameter::Int64(1),
                binary(key.as_bytes()),
                binary(present.as_bytes()),
                binary(old),
                binary(new),
            ],
        )?;
        Ok(integer("EVAL", swapped)? == 1)
    }
}
