//! `tea:keyvalue`: a persistent key-value store with one private namespace per actor, on redb
//! (an embedded, crash-safe, copy-on-write B-tree database: a write is durable once `put`
//! returns).
//!
//! Operations (ABI v1): `get(key)` -> value or `NotFound`; `put(u32 LE len(key) ++ key ++ value)`;
//! `delete(key)`. Keys up to 1 KiB, values up to 1 MiB. Each operation is its own transaction:
//! a `get` followed by a `put` from concurrent invocations of one actor can interleave.

use super::{split_pair, CallContext, Provider};
use redb::{Database, ReadableDatabase, TableDefinition};
use std::path::Path;
use tea_primitives::abi::HostError;

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("actor_kv");
const MAX_KEY: usize = 1024;
const MAX_VALUE: usize = 1 << 20;

/// The key-value provider.
pub struct KeyValue {
	db: Database,
}

impl KeyValue {
	/// Opens (or creates) the database at `path`.
	pub fn open(path: &Path) -> Result<Self, redb::Error> {
		let db = Database::create(path)?;
		let txn = db.begin_write()?;
		txn.open_table(TABLE)?;
		txn.commit()?;
		Ok(Self { db })
	}

	/// The namespaced key: `u8 len(actor) ++ actor ++ key`, so no actor can name another's keys.
	fn key(actor: &str, key: &[u8]) -> Result<Vec<u8>, HostError> {
		if key.len() > MAX_KEY || actor.len() > u8::MAX as usize {
			return Err(HostError::BadRequest);
		}
		let mut full = Vec::with_capacity(1 + actor.len() + key.len());
		full.push(actor.len() as u8);
		full.extend_from_slice(actor.as_bytes());
		full.extend_from_slice(key);
		Ok(full)
	}

	fn failed(e: impl std::fmt::Display) -> HostError {
		tracing::error!(target: "tea::providers", "keyvalue database error: {e}");
		HostError::ProviderFailed
	}

	fn get(&self, key: &[u8]) -> Result<Vec<u8>, HostError> {
		let txn = self.db.begin_read().map_err(Self::failed)?;
		let table = txn.open_table(TABLE).map_err(Self::failed)?;
		let value = table.get(key).map_err(Self::failed)?.ok_or(HostError::NotFound)?;
		Ok(value.value().to_vec())
	}

	fn write(
		&self,
		f: impl FnOnce(&mut redb::Table<&[u8], &[u8]>) -> Result<(), redb::StorageError>,
	) -> Result<(), HostError> {
		let txn = self.db.begin_write().map_err(Self::failed)?;
		{
			let mut table = txn.open_table(TABLE).map_err(Self::failed)?;
			f(&mut table).map_err(Self::failed)?;
		}
		txn.commit().map_err(Self::failed)
	}
}

impl Provider for KeyValue {
	fn name(&self) -> &'static str {
		"tea:keyvalue"
	}

	fn operations(&self) -> &'static [&'static str] {
		&["get", "put", "delete"]
	}

	fn call(
		&self,
		caller: &CallContext<'_>,
		operation: &str,
		request: &[u8],
	) -> Result<Vec<u8>, HostError> {
		match operation {
			"get" => self.get(&Self::key(caller.actor, request)?),
			"put" => {
				let (key, value) = split_pair(request)?;
				if value.len() > MAX_VALUE {
					return Err(HostError::BadRequest);
				}
				let key = Self::key(caller.actor, key)?;
				self.write(|t| t.insert(key.as_slice(), value).map(|_| ()))?;
				Ok(Vec::new())
			}
			"delete" => {
				let key = Self::key(caller.actor, request)?;
				self.write(|t| t.remove(key.as_slice()).map(|_| ()))?;
				Ok(Vec::new())
			}
			_ => Err(HostError::BadRequest),
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use tea_primitives::ContentId;

	fn put_request(key: &[u8], value: &[u8]) -> Vec<u8> {
		[&(key.len() as u32).to_le_bytes()[..], key, value].concat()
	}

	#[test]
	fn namespaces_are_private_and_data_survives_reopen() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("kv.redb");
		let cid = ContentId::of(b"x");
		let (a, b) = (CallContext { actor: "a", cid: &cid }, CallContext { actor: "b", cid: &cid });
		{
			let kv = KeyValue::open(&path).unwrap();
			kv.call(&a, "put", &put_request(b"k", b"from a")).unwrap();
			assert_eq!(kv.call(&a, "get", b"k").unwrap(), b"from a");
			assert_eq!(kv.call(&b, "get", b"k"), Err(HostError::NotFound));
			// "a" + key "bk" must not collide with "ab" + key "k".
			let ab = CallContext { actor: "ab", cid: &cid };
			kv.call(&ab, "put", &put_request(b"k", b"from ab")).unwrap();
			assert_eq!(kv.call(&a, "get", b"bk"), Err(HostError::NotFound));
		}
		let kv = KeyValue::open(&path).unwrap();
		assert_eq!(kv.call(&a, "get", b"k").unwrap(), b"from a");
		kv.call(&a, "delete", b"k").unwrap();
		assert_eq!(kv.call(&a, "get", b"k"), Err(HostError::NotFound));
		assert_eq!(kv.call(&a, "put", &[9, 0, 0, 0, 1]), Err(HostError::BadRequest));
		assert_eq!(kv.call(&a, "get", &vec![0; 2000]), Err(HostError::BadRequest));
		assert_eq!(kv.call(&a, "scan", b""), Err(HostError::BadRequest));
	}
}
