//! The persisted outbox: every extrinsic the operator's [`Signer`](super::signer::Signer) sends
//! is written here, signed, *before* it reaches a transaction pool, under a [`Key`] that names
//! what it is (registration of a node, attestation of a node, a member's vote in one review).
//!
//! While an entry is stored, its extrinsic may still be included, so no other submission under
//! the same key is made: the stored bytes are sent again (the same nonce and signature, so the
//! chain can include them at most once) until the chain settles them. An entry is settled when
//! the operator's finalized nonce passed the entry's nonce (it, or something else with that
//! nonce, was included: it can never be included again) or the finalized chain passed the
//! extrinsic's mortality (it can never be included at all). A worker killed at any point
//! therefore neither loses a submission (the stored bytes are sent again on restart) nor makes
//! one twice (nothing new under that key until the old one is settled).
//!
//! The store is a redb database (crash-safe, copy-on-write; a write is durable once it
//! returns) under the data dir. redb locks its file, so a second worker on the same data dir is
//! refused at start.

use codec::{Decode, DecodeAll, Encode};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::Path;

/// Submissions in flight, by SCALE-encoded [`Key`].
const OUTBOX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("outbox");
/// Small records the duties keep across restarts (e.g. what the node duty submitted last).
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");
/// Acknowledged receipts waiting for a batch, in queue order ([`super::acks`]).
pub(super) const ACKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("acks");
/// The queued acknowledged receipts by client and nonce (to the block of each).
pub(super) const ACK_IDS: TableDefinition<&[u8], u32> = TableDefinition::new("ack_ids");

/// What a submission is: at most one of each is in flight.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum Key {
	/// `nodes.register` of a node, or `nodes.claim` (a registration too).
	Register {
		/// The node id.
		node: [u8; 32],
	},
	/// `attestation.submitAttestation` for a node (one at a time, whatever its purpose).
	Attest {
		/// The node id.
		node: [u8; 32],
	},
	/// `attestation.vote` of a member in the review of a candidate that closes at `deadline`.
	Vote {
		/// The member's node id.
		member: [u8; 32],
		/// The candidate's node id.
		candidate: [u8; 32],
		/// The review's deadline.
		deadline: u32,
	},
	/// `nodes.setAddresses` of a node.
	Addresses {
		/// The node id.
		node: [u8; 32],
	},
	/// `actors.reportRefusals` of a node.
	Refusals {
		/// The node id.
		node: [u8; 32],
	},
	/// `rewards.submitReceipts` of a node (a batch of acknowledged receipts).
	Receipts {
		/// The node id.
		node: [u8; 32],
	},
}

/// A signed extrinsic that may still be included.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Entry {
	/// What it calls (`pallet.call`, for logs and metrics).
	pub what: String,
	/// The operator's nonce it was signed with.
	pub nonce: u64,
	/// The block its mortality counts from: it cannot be included before.
	pub birth: u32,
	/// The last block it can be included in (its mortality).
	pub expires: u32,
	/// The signed extrinsic.
	pub extrinsic: Vec<u8>,
	/// What the submitting duty needs to report the outcome (its own encoding).
	pub detail: Vec<u8>,
}

/// The outbox could not be read or written (the local disk, never the chain).
#[derive(Debug, thiserror::Error)]
#[error("outbox {path}: {reason}")]
pub struct OutboxError {
	/// The database file (or `memory`).
	pub path: String,
	/// What failed.
	pub reason: String,
}

/// The persisted outbox.
pub struct Outbox {
	db: Database,
	path: String,
}

impl Outbox {
	/// Opens (or creates) the outbox at `path`; refused while another process has it open.
	pub fn open(path: &Path) -> Result<Self, OutboxError> {
		let name = path.display().to_string();
		let db = Database::create(path).map_err(|e| OutboxError {
			path: name.clone(),
			reason: match e {
				redb::DatabaseError::DatabaseAlreadyOpen => {
					"already open: is another tea-worker running on this data dir?".into()
				}
				e => e.to_string(),
			},
		})?;
		Self::with(db, name)
	}

	/// An outbox that lives as long as the process (one-shot commands, tests).
	pub fn in_memory() -> Self {
		let db = Database::builder()
			.create_with_backend(redb::backends::InMemoryBackend::new())
			.expect("an in-memory database opens");
		Self::with(db, "memory".into()).expect("an in-memory database takes tables")
	}

	fn with(db: Database, path: String) -> Result<Self, OutboxError> {
		let outbox = Self { db, path };
		outbox.write(|txn| {
			txn.open_table(OUTBOX)?;
			txn.open_table(STATE)?;
			txn.open_table(ACKS)?;
			txn.open_table(ACK_IDS)?;
			Ok(())
		})?;
		Ok(outbox)
	}

	fn fail(&self, e: impl std::fmt::Display) -> OutboxError {
		OutboxError { path: self.path.clone(), reason: e.to_string() }
	}

	/// Runs `f` in one write transaction, durable when this returns.
	pub(super) fn write(
		&self,
		f: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
	) -> Result<(), OutboxError> {
		let txn = self.db.begin_write().map_err(|e| self.fail(e))?;
		f(&txn).map_err(|e| self.fail(e))?;
		txn.commit().map_err(|e| self.fail(e))
	}

	/// Runs `f` in one read transaction.
	pub(super) fn read<R>(
		&self,
		f: impl FnOnce(&redb::ReadTransaction) -> Result<R, redb::Error>,
	) -> Result<R, OutboxError> {
		let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
		f(&txn).map_err(|e| self.fail(e))
	}

	/// The entry stored under `key`.
	pub fn get(&self, key: &Key) -> Result<Option<Entry>, OutboxError> {
		let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
		let table = txn.open_table(OUTBOX).map_err(|e| self.fail(e))?;
		let Some(value) = table.get(key.encode().as_slice()).map_err(|e| self.fail(e))? else {
			return Ok(None);
		};
		Entry::decode_all(&mut value.value())
			.map(Some)
			.map_err(|e| self.fail(format!("entry {key:?} does not decode: {e}")))
	}

	/// Stores `entry` under `key` (durable when this returns).
	pub fn put(&self, key: &Key, entry: &Entry) -> Result<(), OutboxError> {
		self.write(|txn| {
			txn.open_table(OUTBOX)?.insert(key.encode().as_slice(), entry.encode().as_slice())?;
			Ok(())
		})?;
		crate::metrics::outbox_stored(self.len().unwrap_or(0));
		Ok(())
	}

	/// Removes the entry under `key` (settled).
	pub fn remove(&self, key: &Key) -> Result<(), OutboxError> {
		self.write(|txn| {
			txn.open_table(OUTBOX)?.remove(key.encode().as_slice())?;
			Ok(())
		})?;
		crate::metrics::outbox_stored(self.len().unwrap_or(0));
		Ok(())
	}

	/// Every stored entry. An entry whose key or value does not decode (a file from another
	/// version) is an error, never skipped: skipping could submit twice.
	pub fn entries(&self) -> Result<Vec<(Key, Entry)>, OutboxError> {
		let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
		let table = txn.open_table(OUTBOX).map_err(|e| self.fail(e))?;
		let mut entries = Vec::new();
		for item in table.iter().map_err(|e| self.fail(e))? {
			let (key, value) = item.map_err(|e| self.fail(e))?;
			let key = Key::decode_all(&mut key.value())
				.map_err(|e| self.fail(format!("a key does not decode: {e}")))?;
			let entry = Entry::decode_all(&mut value.value())
				.map_err(|e| self.fail(format!("entry {key:?} does not decode: {e}")))?;
			entries.push((key, entry));
		}
		Ok(entries)
	}

	/// How many entries are stored.
	pub fn len(&self) -> Result<usize, OutboxError> {
		let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
		let table = txn.open_table(OUTBOX).map_err(|e| self.fail(e))?;
		Ok(table.len().map_err(|e| self.fail(e))? as usize)
	}

	/// Whether nothing is stored.
	pub fn is_empty(&self) -> Result<bool, OutboxError> {
		Ok(self.len()? == 0)
	}

	/// The record `name` a duty kept, SCALE-decoded.
	pub fn record<T: Decode>(&self, name: &str) -> Result<Option<T>, OutboxError> {
		let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
		let table = txn.open_table(STATE).map_err(|e| self.fail(e))?;
		let Some(value) = table.get(name).map_err(|e| self.fail(e))? else { return Ok(None) };
		T::decode_all(&mut value.value())
			.map(Some)
			.map_err(|e| self.fail(format!("record {name} does not decode: {e}")))
	}

	/// Keeps record `name` (durable when this returns).
	pub fn keep<T: Encode>(&self, name: &str, value: &T) -> Result<(), OutboxError> {
		self.write(|txn| {
			txn.open_table(STATE)?.insert(name, value.encode().as_slice())?;
			Ok(())
		})
	}
}

/// What the chain says about a stored entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
	/// It may still be included: send it again and wait.
	Open,
	/// The operator's nonce passed it: included (look for it in `birth..=expires`) or replaced.
	NoncePassed,
	/// Its mortality passed without its nonce being used: it can never be included.
	Expired,
}

/// Where `entry` stands given the operator's nonce and the number of the latest finalized
/// block.
pub fn standing(entry: &Entry, finalized_nonce: u64, finalized: u32) -> Standing {
	if finalized_nonce > entry.nonce {
		Standing::NoncePassed
	} else if finalized >= entry.expires {
		Standing::Expired
	} else {
		Standing::Open
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn entry(nonce: u64) -> Entry {
		Entry {
			what: "attestation.vote".into(),
			nonce,
			birth: 10,
			expires: 42,
			extrinsic: vec![1, 2, 3],
			detail: vec![9],
		}
	}

	#[test]
	fn entries_survive_reopening_and_are_removed_once_settled() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("outbox.redb");
		let vote = Key::Vote { member: [1; 32], candidate: [2; 32], deadline: 30 };
		let attest = Key::Attest { node: [1; 32] };
		{
			let outbox = Outbox::open(&path).unwrap();
			outbox.put(&vote, &entry(7)).unwrap();
			outbox.put(&attest, &entry(8)).unwrap();
			outbox.keep("duty", &(3u32, true)).unwrap();
		}
		let outbox = Outbox::open(&path).unwrap();
		assert_eq!(outbox.get(&vote).unwrap(), Some(entry(7)));
		assert_eq!(outbox.len().unwrap(), 2);
		assert_eq!(outbox.record::<(u32, bool)>("duty").unwrap(), Some((3, true)));
		outbox.remove(&vote).unwrap();
		assert_eq!(outbox.entries().unwrap(), vec![(attest, entry(8))]);
		assert_eq!(outbox.get(&vote).unwrap(), None);
	}

	#[test]
	fn a_second_process_on_the_same_file_is_refused_with_the_reason() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("outbox.redb");
		let _first = Outbox::open(&path).unwrap();
		let err = Outbox::open(&path).err().unwrap();
		assert!(err.to_string().contains("another tea-worker"), "{err}");
	}

	#[test]
	fn undecodable_entries_are_errors_not_skipped() {
		let outbox = Outbox::in_memory();
		outbox
			.write(|txn| {
				txn.open_table(OUTBOX)?.insert([0xff_u8].as_slice(), [0_u8].as_slice())?;
				Ok(())
			})
			.unwrap();
		assert!(outbox.entries().is_err());
		outbox.keep("duty", &1u8).unwrap();
		assert!(outbox.record::<u64>("duty").is_err(), "a short record is an error");
		outbox.keep("duty", &Some(7u32)).unwrap();
		assert!(outbox.record::<u32>("duty").is_err(), "a long record is an error");
	}

	#[test]
	fn an_entry_is_open_until_its_nonce_is_used_or_its_mortality_ends() {
		let e = entry(5);
		assert_eq!(standing(&e, 5, 41), Standing::Open);
		assert_eq!(standing(&e, 6, 20), Standing::NoncePassed);
		assert_eq!(standing(&e, 6, 50), Standing::NoncePassed, "the nonce says more than age");
		assert_eq!(standing(&e, 5, 42), Standing::Expired);
	}
}
