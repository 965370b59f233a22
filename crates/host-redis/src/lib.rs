//! The outbound Redis capability of `sluice up`, as Spin provides it: the
//! `fermyon:spin/redis@2.0.0` interface, with which a component talks to a Redis
//! server itself (Sluice's components use it, when `store_redis_url` is set, for
//! the atomic operations Spin's Redis key-value backend gets wrong).
//!
//! A component may open only addresses whose origin (`redis://host:port`) its
//! `allowed_outbound_hosts` grants; others get `invalid-address`, as in Spin.
//! `execute` answers as Spin's does: an array reply is flattened into its
//! elements, in order, so `MGET a b` answers two results.
//!
//! ```no_run
//! use std::sync::Arc;
//! use sluice_host_redis::{OutboundRedis, RedisView};
//! struct State { redis: OutboundRedis, table: wasmtime::component::ResourceTable }
//! fn view(s: &mut State) -> RedisView<'_> { RedisView { redis: &s.redis, table: &mut s.table } }
//! # fn f(engine: &wasmtime::Engine) -> wasmtime::Result<()> {
//! let mut linker = wasmtime::component::Linker::<State>::new(engine);
//! sluice_host_redis::add_to_linker(&mut linker, view)?;
//! let redis = OutboundRedis::new(Arc::new(|scheme: &str, host: &str, port: u16| {
//!     scheme == "redis" && host == "127.0.0.1" && port == 6379
//! }));
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use redis::aio::ConnectionManager;
use redis::{ConnectionAddr, IntoConnectionInfo, Value};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "sluice:host-redis/redis",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/redis.connection": crate::Connection,
        },
    });
}

use bindings::fermyon::spin::redis::{self as wit, Error, RedisParameter, RedisResult};

/// Whether a component may connect to `scheme://host:port` (`scheme` is
/// `redis` or `rediss`).
pub type AllowedAddress = dyn Fn(&str, &str, u16) -> bool + Send + Sync;

/// Outbound Redis for one component: what it may reach, and the connections
/// the host keeps open to each address (shared by every request, re-established
/// on their own after a Redis restart).
#[derive(Clone)]
pub struct OutboundRedis {
    allowed: Arc<AllowedAddress>,
    connections: Arc<tokio::sync::Mutex<HashMap<String, ConnectionManager>>>,
}

impl OutboundRedis {
    /// Outbound Redis to the addresses `allowed` grants.
    pub fn new(allowed: Arc<AllowedAddress>) -> OutboundRedis {
        OutboundRedis {
            allowed,
            connections: Default::default(),
        }
    }

    /// One that may reach nothing.
    pub fn denied() -> OutboundRedis {
        OutboundRedis::new(Arc::new(|_: &str, _: &str, _: u16| false))
    }

    /// A connection to `address`, opened once and shared afterwards.
    async fn connect(&self, address: &str) -> Result<ConnectionManager, Error> {
        let info = address
            .into_connection_info()
            .map_err(|_| Error::InvalidAddress)?;
        let (scheme, host, port) = match &info.addr {
            ConnectionAddr::Tcp(host, port) => ("redis", host.as_str(), *port),
            ConnectionAddr::TcpTls { host, port, .. } => ("rediss", host.as_str(), *port),
            _ => return Err(Error::InvalidAddress),
        };
        if !(self.allowed)(scheme, &host.to_ascii_lowercase(), port) {
            return Err(Error::InvalidAddress);
        }
        let mut connections = self.connections.lock().await;
        if let Some(connection) = connections.get(address) {
            return Ok(connection.clone());
        }
        let client = redis::Client::open(info).map_err(|_| Error::InvalidAddress)?;
        let connection = ConnectionManager::new(client).await.map_err(other)?;
        connections.insert(address.to_owned(), connection.clone());
        Ok(connection)
    }
}

/// An open connection, as the guest holds it.
pub struct Connection {
    redis: ConnectionManager,
}

/// What the host implementation needs from a request's state.
pub struct RedisView<'a> {
    pub redis: &'a OutboundRedis,
    pub table: &'a mut ResourceTable,
}

struct RedisData;

impl HasData for RedisData {
    type Data<'a> = RedisView<'a>;
}

/// Adds `fermyon:spin/redis@2.0.0` to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> RedisView<'_>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, RedisData>(linker, get)
}

fn other(e: redis::RedisError) -> Error {
    if e.kind() == redis::ErrorKind::TypeError {
        Error::TypeError
    } else {
        Error::Other(e.to_string())
    }
}

/// A reply as `execute` answers it: arrays and sets flattened, in order.
fn flatten(value: Value, into: &mut Vec<RedisResult>) -> Result<(), Error> {
    match value {
        Value::Nil => into.push(RedisResult::Nil),
        Value::Int(n) => into.push(RedisResult::Int64(n)),
        Value::BulkString(bytes) => into.push(RedisResult::Binary(bytes)),
        Value::SimpleString(text) => into.push(RedisResult::Status(text)),
        Value::Okay => into.push(RedisResult::Status("OK".into())),
        Value::Boolean(b) => into.push(RedisResult::Int64(i64::from(b))),
        Value::Double(d) => into.push(RedisResult::Binary(d.to_string().into_bytes())),
        Value::BigNumber(n) => into.push(RedisResult::Binary(n.to_string().into_bytes())),
        Value::Array(items) | Value::Set(items) => {
            for item in items {
                flatten(item, into)?;
            }
        }
        Value::ServerError(e) => return Err(Error::Other(format!("{e:?}"))),
        other => {
            return Err(Error::Other(format!(
                "a Redis reply of this kind cannot be returned: {other:?}"
            )));
        }
    }
    Ok(())
}

impl RedisView<'_> {
    fn connection(&self, c: &Resource<Connection>) -> wasmtime::Result<ConnectionManager> {
        Ok(self.table.get(c)?.redis.clone())
    }
}

/// Runs `command` on `connection` (no borrow of the request's state is held
/// across the wait).
async fn run<T: redis::FromRedisValue>(
    mut connection: ConnectionManager,
    command: redis::Cmd,
) -> Result<T, Error> {
    command.query_async(&mut connection).await.map_err(other)
}

fn command(name: &str, key: &str) -> redis::Cmd {
    let mut command = redis::cmd(name);
    command.arg(key);
    command
}

impl wit::Host for RedisView<'_> {}

impl wit::HostConnection for RedisView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        let redis = match self.redis.connect(&address).await {
            Ok(redis) => redis,
            Err(e) => return Ok(Err(e)),
        };
        match self.table.push(Connection { redis }) {
            Ok(c) => Ok(Ok(c)),
            Err(_) => Ok(Err(Error::TooManyConnections)),
        }
    }

    async fn publish(
        &mut self,
        c: Resource<Connection>,
        channel: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let mut publish = command("PUBLISH", &channel);
        publish.arg(payload);
        Ok(run::<i64>(self.connection(&c)?, publish).await.map(drop))
    }

    async fn get(
        &mut self,
        c: Resource<Connection>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(run(self.connection(&c)?, command("GET", &key)).await)
    }

    async fn set(
        &mut self,
        c: Resource<Connection>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let mut set = command("SET", &key);
        set.arg(value);
        Ok(run(self.connection(&c)?, set).await)
    }

    async fn incr(
        &mut self,
        c: Resource<Connection>,
        key: String,
    ) -> wasmtime::Result<Result<i64, Error>> {
        Ok(run(self.connection(&c)?, command("INCR", &key)).await)
    }

    async fn del(
        &mut self,
        c: Resource<Connection>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let mut del = redis::cmd("DEL");
        del.arg(keys);
        Ok(run(self.connection(&c)?, del).await)
    }

    async fn sadd(
        &mut self,
        c: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let mut sadd = command("SADD", &key);
        sadd.arg(values);
        Ok(run(self.connection(&c)?, sadd).await)
    }

    async fn smembers(
        &mut self,
        c: Resource<Connection>,
        key: String,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        Ok(run(self.connection(&c)?, command("SMEMBERS", &key)).await)
    }

    async fn srem(
        &mut self,
        c: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let mut srem = command("SREM", &key);
        srem.arg(values);
        Ok(run(self.connection(&c)?, srem).await)
    }

    async fn execute(
        &mut self,
        c: Resource<Connection>,
        name: String,
        arguments: Vec<RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<RedisResult>, Error>> {
        let mut execute = redis::cmd(&name);
        for argument in arguments {
            match argument {
                RedisParameter::Int64(n) => execute.arg(n),
                RedisParameter::Binary(bytes) => execute.arg(bytes),
            };
        }
        let reply = match run::<Value>(self.connection(&c)?, execute).await {
            Ok(reply) => reply,
            Err(e) => return Ok(Err(e)),
        };
        let mut results = Vec::new();
        Ok(flatten(reply, &mut results).map(|()| results))
    }

    async fn drop(&mut self, c: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(c)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_flatten_as_spin_answers_them() {
        let mut out = Vec::new();
        flatten(
            Value::Array(vec![
                Value::BulkString(b"a".to_vec()),
                Value::Nil,
                Value::Array(vec![Value::Int(3)]),
                Value::Okay,
            ]),
            &mut out,
        )
        .unwrap();
        let shown: Vec<String> = out
            .iter()
            .map(|r| match r {
                RedisResult::Nil => "nil".to_owned(),
                RedisResult::Status(s) => format!("status {s}"),
                RedisResult::Int64(n) => format!("int {n}"),
                RedisResult::Binary(b) => format!("binary {}", String::from_utf8_lossy(b)),
            })
            .collect();
        assert_eq!(shown, ["binary a", "nil", "int 3", "status OK"]);
    }

    #[tokio::test]
    async fn an_address_the_component_was_not_granted_is_refused() {
        let redis = OutboundRedis::new(Arc::new(|scheme: &str, host: &str, port: u16| {
            scheme == "redis" && host == "allowed.example" && port == 6379
        }));
        for address in [
            "redis://127.0.0.1:6379",
            "redis://allowed.example:6380",
            "rediss://allowed.example:6379",
            "not a url",
            "unix:///tmp/redis.sock",
        ] {
            assert!(
                matches!(redis.connect(address).await, Err(Error::InvalidAddress)),
                "{address} should be refused"
            );
        }
    }
}
