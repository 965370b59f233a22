//! The embedded default key-value store: one SQLite file, the same table Spin's
//! default store uses (`spin_key_value(store, key, value)`), so a state directory
//! can move between `spin up` and `sluice up`.
//!
//! Counters are 8-byte little-endian integers, as in Spin. Compare-and-swap is
//! conditional in every case, including "only if absent" (Spin's SQLite store
//! treats that case as an unconditional write).
//!
//! Durability: WAL journal with `synchronous = NORMAL`. A committed write survives
//! a crash of the process (SQLite has it in the WAL); a power loss may lose the
//! last transactions but never corrupts the file.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use sluice_host_key_value::Backend;
//! let db = sluice_key_value_sqlite::Database::open(Some(std::path::Path::new(".spin/sqlite_key_value.db")))?;
//! let store = db.store("default");
//! store.set("k", b"v").await?;
//! assert_eq!(store.increment("n", 2).await?, 2);
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use sluice_host_key_value::{Backend, Error};

/// An open SQLite database holding any number of labelled stores.
#[derive(Clone)]
pub struct Database {
    connection: Arc<Mutex<Connection>>,
}

fn err(e: rusqlite::Error) -> Error {
    Error(format!("sqlite: {e}"))
}

impl Database {
    /// Opens (creating if needed) the database at `path`, or an in-memory one.
    pub fn open(path: Option<&Path>) -> Result<Database, Error> {
        let connection = match path {
            Some(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| Error(format!("creating {}: {e}", dir.display())))?;
                }
                Connection::open(path).map_err(err)?
            }
            None => Connection::open_in_memory().map_err(err)?,
        };
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA busy_timeout = 5000;
                 CREATE TABLE IF NOT EXISTS spin_key_value (
                     store TEXT NOT NULL,
                     key   TEXT NOT NULL,
                     value BLOB NOT NULL,
                     PRIMARY KEY (store, key)
                 );",
            )
            .map_err(err)?;
        Ok(Database {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// The store labelled `label`.
    pub fn store(&self, label: &str) -> Arc<dyn Backend> {
        Arc::new(SqliteStore {
            db: self.clone(),
            label: label.to_owned(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct SqliteStore {
    db: Database,
    label: String,
}

fn get(c: &Connection, label: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
    c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")
        .map_err(err)?
        .query_row(params![label, key], |row| row.get(0))
        .optional()
        .map_err(err)
}

/// Keys per `IN (...)` query: one statement for a whole batch read (a check-in
/// reads about thirty counters), well under SQLite's parameter limit.
const KEYS_PER_QUERY: usize = 64;

/// Keys paired with their values (`None`: absent), in the order asked.
type Found = Vec<(String, Option<Vec<u8>>)>;

fn get_many(c: &Connection, label: &str, keys: Vec<String>) -> Result<Found, Error> {
    let mut out: Found = keys.into_iter().map(|k| (k, None)).collect();
    for start in (0..out.len()).step_by(KEYS_PER_QUERY) {
        let end = (start + KEYS_PER_QUERY).min(out.len());
        let placeholders: Vec<String> = (0..end - start).map(|i| format!("?{}", i + 2)).collect();
        let sql = format!(
            "SELECT key, value FROM spin_key_value WHERE store = ?1 AND key IN ({})",
            placeholders.join(",")
        );
        let mut statement = c.prepare_cached(&sql).map_err(err)?;
        let params = std::iter::once(label).chain(out[start..end].iter().map(|(k, _)| k.as_str()));
        let mut rows = statement
            .query(rusqlite::params_from_iter(params))
            .map_err(err)?;
        while let Some(row) = rows.next().map_err(err)? {
            let key: String = row.get(0).map_err(err)?;
            let value: Vec<u8> = row.get(1).map_err(err)?;
            for slot in out[start..end].iter_mut().filter(|(k, _)| *k == key) {
                slot.1 = Some(value.clone());
            }
        }
    }
    Ok(out)
}

fn set(c: &Connection, label: &str, key: &str, value: &[u8]) -> Result<(), Error> {
    c.prepare_cached(
        "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
    )
    .map_err(err)?
    .execute(params![label, key, value])
    .map_err(err)?;
    Ok(())
}

fn delete(c: &Connection, label: &str, key: &str) -> Result<(), Error> {
    c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")
        .map_err(err)?
        .execute(params![label, key])
        .map_err(err)?;
    Ok(())
}

#[async_trait::async_trait]
impl Backend for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        get(&self.db.lock(), &self.label, key)
    }

    async fn get_many(&self, keys: Vec<String>) -> Result<Vec<(String, Option<Vec<u8>>)>, Error> {
        get_many(&self.db.lock(), &self.label, keys)
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        set(&self.db.lock(), &self.label, key, value)
    }

    async fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        let mut c = self.db.lock();
        let tx = c.transaction().map_err(err)?;
        for (k, v) in &pairs {
            set(&tx, &self.label, k, v)?;
        }
        tx.commit().map_err(err)
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        delete(&self.db.lock(), &self.label, key)
    }

    async fn delete_many(&self, keys: Vec<String>) -> Result<(), Error> {
        let mut c = self.db.lock();
        let tx = c.transaction().map_err(err)?;
        for k in &keys {
            delete(&tx, &self.label, k)?;
        }
        tx.commit().map_err(err)
    }

    async fn exists(&self, key: &str) -> Result<bool, Error> {
        Ok(get(&self.db.lock(), &self.label, key)?.is_some())
    }

    async fn keys(&self) -> Result<Vec<String>, Error> {
        let c = self.db.lock();
        let mut stmt = c
            .prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1")
            .map_err(err)?;
        let rows = stmt
            .query_map(params![self.label], |row| row.get::<_, String>(0))
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        let mut c = self.db.lock();
        let tx = c.transaction().map_err(err)?;
        let current = match get(&tx, &self.label, key)? {
            None => 0,
            Some(bytes) => i64::from_le_bytes(
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error(format!("{key} does not hold a counter")))?,
            ),
        };
        let new = current.wrapping_add(delta);
        set(&tx, &self.label, key, &new.to_le_bytes())?;
        tx.commit().map_err(err)?;
        Ok(new)
    }

    async fn swap_if(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, Error> {
        let c = self.db.lock();
        let changed = match expected {
            Some(old) => c
                .prepare_cached(
                    "UPDATE spin_key_value SET value = ?4 WHERE store = ?1 AND key = ?2 AND value = ?3",
                )
                .map_err(err)?
                .execute(params![self.label, key, old, new])
                .map_err(err)?,
            None => c
                .prepare_cached(
                    "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (store, key) DO NOTHING",
                )
                .map_err(err)?
                .execute(params![self.label, key, new])
                .map_err(err)?,
        };
        Ok(changed == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batch_reads_keep_order_duplicates_and_absent_keys() {
        let db = Database::open(None).unwrap();
        let store = db.store("default");
        let other = db.store("other");
        store.set("a", b"1").await.unwrap();
        store.set("b", b"2").await.unwrap();
        other.set("c", b"not ours").await.unwrap();
        let keys: Vec<String> = ["b", "missing", "a", "b", "c"].map(String::from).to_vec();
        let got = store.get_many(keys.clone()).await.unwrap();
        let values: Vec<Option<&[u8]>> = got.iter().map(|(_, v)| v.as_deref()).collect();
        assert_eq!(
            values,
            [Some(&b"2"[..]), None, Some(b"1"), Some(b"2"), None]
        );
        assert_eq!(got.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), keys);
        // More keys than one query takes.
        let many: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
        for k in many.iter().step_by(3) {
            store.set(k, k.as_bytes()).await.unwrap();
        }
        let got = store.get_many(many.clone()).await.unwrap();
        for (i, (k, v)) in got.iter().enumerate() {
            assert_eq!(v.is_some(), i % 3 == 0, "{k}");
        }
    }

    #[tokio::test]
    async fn values_counters_and_swaps() {
        let db = Database::open(None).unwrap();
        let a = db.store("a");
        let b = db.store("b");
        a.set("k", b"1").await.unwrap();
        assert_eq!(a.get("k").await.unwrap(), Some(b"1".to_vec()));
        assert_eq!(
            b.get("k").await.unwrap(),
            None,
            "labels are separate stores"
        );
        assert_eq!(a.increment("n", 5).await.unwrap(), 5);
        assert_eq!(a.increment("n", -2).await.unwrap(), 3);
        assert_eq!(a.get("n").await.unwrap(), Some(3i64.to_le_bytes().to_vec()));
        assert!(a.increment("k", 1).await.is_err(), "not a counter");
        assert!(!a.swap_if("k", Some(b"2"), b"x").await.unwrap());
        assert!(a.swap_if("k", Some(b"1"), b"x").await.unwrap());
        assert!(
            !a.swap_if("k", None, b"y").await.unwrap(),
            "absent-only swap of a present key"
        );
        assert!(a.swap_if("new", None, b"y").await.unwrap());
        assert!(!a.swap_if("new", None, b"z").await.unwrap());
        let many = a
            .get_many(vec!["k".into(), "missing".into()])
            .await
            .unwrap();
        assert_eq!(
            many,
            vec![("k".into(), Some(b"x".to_vec())), ("missing".into(), None)]
        );
        a.delete_many(vec!["k".into(), "new".into()]).await.unwrap();
        assert!(!a.exists("k").await.unwrap());
        let mut keys = a.keys().await.unwrap();
        keys.sort();
        assert_eq!(keys, vec!["n".to_string()]);
    }

    #[tokio::test]
    async fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/kv.db");
        Database::open(Some(&path))
            .unwrap()
            .store("default")
            .set("k", b"v")
            .await
            .unwrap();
        let again = Database::open(Some(&path)).unwrap().store("default");
        assert_eq!(again.get("k").await.unwrap(), Some(b"v".to_vec()));
    }
}
