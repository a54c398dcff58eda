//! The node's event log: every digest the worker's TPM owner extends into the log PCR, in
//! order, so that a quote of that PCR can be replayed on chain (`tea_primitives::evidence`).
//!
//! - **Write-ahead.** An entry is written (durably) *before* its digest is extended. A crash in
//!   between leaves an entry that was never extended at the tail; the other order would leave
//!   an extend that no log shows, and nothing measured in that TPM cycle could be proven
//!   again.
//! - **Recovery.** When the log is opened, and whenever an extend's outcome is unknown (the
//!   TPM failed or the connection dropped), the TPM's value of the log PCR settles it: the
//!   longest prefix of the stored entries that replays to that value is kept, the rest was
//!   never extended and is dropped. A value that no prefix reproduces (another program
//!   extended the PCR, or the log was lost) makes the cycle **unprovable**: nothing is
//!   extended or quoted with a log until the TPM is reset.
//! - **Cycles.** PCRs start at zero after a TPM reset (or restart). A log PCR at zero starts a
//!   new cycle (the previous cycle's entries are kept aside, for the operator). The chain keys
//!   what it accepted by the TPM's reset count ([`EvidenceLog::since`]).
//! - **Measured once.** An actor release or a provider is recorded once per cycle (as Linux
//!   IMA does): the chain learns which code this TPM cycle ever ran, not how often. The
//!   runtime and its configuration are recorded at every launch unless they are the last ones
//!   recorded (a relaunch of the same build adds nothing).
//!
//! The log is a redb database (`evidence.redb` in the data dir): a write is durable once it
//! returns, and a second worker on the same data dir is refused.

use codec::{Decode, DecodeAll, Encode};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::{collections::HashSet, path::Path};
use tea_primitives::evidence::{extend, EventKind, LogEvent, MAX_EVENT_DATA, MAX_POLICY_PCR};

/// The PCR the worker keeps its event log in unless configured otherwise (the chain's policy
/// names the log PCR; the two must agree).
pub use tea_primitives::evidence::DEFAULT_LOG_PCR;

/// The entries of the current cycle, by position.
const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
/// The entries of the previous cycle, kept for the operator.
const PREVIOUS: TableDefinition<u64, &[u8]> = TableDefinition::new("previous");
/// The cycle the entries belong to.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const CYCLE: &str = "cycle";

/// A TPM power cycle as the TPM counts it (`TPMS_CLOCK_INFO`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Cycle {
	/// TPM resets (power loss, `Startup(CLEAR)` without an orderly shutdown).
	pub reset_count: u32,
	/// TPM restarts and resumes since the last reset.
	pub restart_count: u32,
	/// The log PCR.
	pub pcr: u8,
}

/// What the log found when it was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
	/// The TPM is in the cycle the log was kept in: `entries` were extended, `dropped` were
	/// written but never extended.
	Continued {
		/// Entries kept.
		entries: usize,
		/// Entries dropped.
		dropped: usize,
	},
	/// The log PCR is at zero: a new cycle (`previous` entries of the last one kept aside).
	Started {
		/// Entries of the last cycle.
		previous: usize,
	},
	/// The log PCR holds a value no stored prefix reproduces.
	Unprovable,
}

/// What went wrong with the event log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
	/// The database could not be read or written.
	#[error("event log {path}: {reason}")]
	Store {
		/// The database file.
		path: String,
		/// What failed.
		reason: String,
	},
	/// The log PCR holds a value the log does not reproduce.
	#[error(
		"PCR {pcr} holds a value this node's event log does not reproduce (another program \
		 extended it, or the log was lost): nothing measured in this TPM cycle can be proven; \
		 reset the TPM (reboot), or choose another log PCR"
	)]
	Unprovable {
		/// The log PCR.
		pcr: u8,
	},
	/// An extend's outcome is not known yet (the TPM failed it, or its answer was lost).
	#[error("the last extend of PCR {pcr} is not settled: the TPM did not answer")]
	Unsettled {
		/// The log PCR.
		pcr: u8,
	},
	/// The data of an entry is too long.
	#[error("an event log entry of {0} bytes: at most {MAX_EVENT_DATA}")]
	TooLong(usize),
	/// So many entries are not yet proven to the chain that one more might not fit in the next
	/// quote: the load waits for the node's next accepted quote.
	#[error(
		"{unproven} event log entries wait for the chain to accept a quote (a quote carries at \
		 most {max}): loading more waits for the next heartbeat"
	)]
	Full {
		/// Entries after the chain's base.
		unproven: usize,
		/// The chain's `MaxLogEntries`.
		max: u32,
	},
	/// The configured log PCR can be reset by software, or is not a PCR.
	#[error(
		"log PCR {0}: must be one of 0-{MAX_POLICY_PCR} (16-23 can be reset without a TPM reset)"
	)]
	BadPcr(u8),
}

/// What the chain accepted last from a node: the TPM reset count and log PCR value of its last
/// accepted quote (`attestation.evidence(node)`).
pub type Base = (u32, [u8; 32]);

/// The event log of one TPM, kept by its owner (see the module documentation).
pub struct EvidenceLog {
	db: Database,
	path: String,
	cycle: Cycle,
	entries: Vec<LogEvent>,
	/// `values[i]`: the log PCR after `entries[..i]` (`values[0]` is zero).
	values: Vec<[u8; 32]>,
	/// Digests of the entries recorded once per cycle (actors, providers).
	once: HashSet<[u8; 32]>,
	/// Written, not known to be extended.
	pending: Option<LogEvent>,
	provable: bool,
	/// What the chain accepted last and how many entries a quote may carry
	/// ([`EvidenceLog::set_chain`]); none: not known yet, nothing is deferred.
	chain: Option<(Option<Base>, u32)>,
}

impl EvidenceLog {
	/// Opens (or creates) the log at `path` for a TPM that is in `cycle` with its log PCR at
	/// `value` (both from a quote, which reads them together).
	pub fn open(path: &Path, cycle: Cycle, value: [u8; 32]) -> Result<(Self, Opened), LogError> {
		if cycle.pcr > MAX_POLICY_PCR {
			return Err(LogError::BadPcr(cycle.pcr));
		}
		let name = path.display().to_string();
		let store = |reason: String| LogError::Store { path: name.clone(), reason };
		let db = Database::create(path).map_err(|e| {
			store(match e {
				redb::DatabaseError::DatabaseAlreadyOpen => {
					"already open: is another tea-worker running on this data dir?".into()
				}
				e => e.to_string(),
			})
		})?;
		let mut log = Self {
			db,
			path: name.clone(),
			cycle,
			entries: Vec::new(),
			values: vec![[0; 32]],
			once: HashSet::new(),
			pending: None,
			provable: true,
			chain: None,
		};
		let (stored_cycle, stored) = log.read_stored()?;
		let opened = if value == [0; 32] {
			log.start(stored.len())?;
			Opened::Started { previous: stored.len() }
		} else if stored_cycle
			.is_some_and(|c| c.reset_count == cycle.reset_count && c.pcr == cycle.pcr)
		{
			let mut at = [0u8; 32];
			let mut kept = None;
			for (i, entry) in stored.iter().enumerate() {
				at = extend(&at, &entry.digest());
				if at == value {
					kept = Some(i + 1);
				}
			}
			match kept {
				Some(k) => {
					let dropped = log.keep(stored, k)?;
					Opened::Continued { entries: k, dropped }
				}
				None => {
					log.provable = false;
					Opened::Unprovable
				}
			}
		} else {
			log.provable = false;
			Opened::Unprovable
		};
		Ok((log, opened))
	}

	fn store_error(&self) -> impl Fn(String) -> LogError + '_ {
		|reason| LogError::Store { path: self.path.clone(), reason }
	}

	/// The stored cycle and its entries.
	fn read_stored(&self) -> Result<(Option<Cycle>, Vec<LogEvent>), LogError> {
		let fail = self.store_error();
		let txn = self.db.begin_read().map_err(|e| fail(e.to_string()))?;
		let meta = match txn.open_table(META) {
			Ok(table) => table,
			Err(redb::TableError::TableDoesNotExist(_)) => return Ok((None, Vec::new())),
			Err(e) => return Err(fail(e.to_string())),
		};
		let cycle = match meta.get(CYCLE).map_err(|e| fail(e.to_string()))? {
			Some(bytes) => Some(
				Cycle::decode_all(&mut bytes.value())
					.map_err(|e| fail(format!("the cycle does not decode: {e}")))?,
			),
			None => None,
		};
		let mut entries = Vec::new();
		if let Ok(table) = txn.open_table(ENTRIES) {
			for row in table.iter().map_err(|e| fail(e.to_string()))? {
				let (_, bytes) = row.map_err(|e| fail(e.to_string()))?;
				entries.push(LogEvent::decode_all(&mut bytes.value()).map_err(|e| {
					fail(format!("an entry does not decode ({e}): move the file aside"))
				})?);
			}
		}
		Ok((cycle, entries))
	}

	/// Starts a new cycle, the stored entries moved to the previous cycle's table.
	fn start(&mut self, stored: usize) -> Result<(), LogError> {
		let cycle = self.cycle;
		self.write(|txn| {
			let mut entries = txn.open_table(ENTRIES)?;
			let mut previous = txn.open_table(PREVIOUS)?;
			previous.retain(|_, _| false)?;
			if stored > 0 {
				let rows = entries
					.iter()?
					.map(|row| row.map(|(k, v)| (k.value(), v.value().to_vec())))
					.collect::<Result<Vec<_>, _>>()?;
				for (k, v) in rows {
					previous.insert(k, &v[..])?;
				}
			}
			entries.retain(|_, _| false)?;
			txn.open_table(META)?.insert(CYCLE, &cycle.encode()[..])?;
			Ok(())
		})
	}

	/// Keeps the first `k` of the stored entries (the rest were never extended); returns how
	/// many it dropped.
	fn keep(&mut self, stored: Vec<LogEvent>, k: usize) -> Result<usize, LogError> {
		let cycle = self.cycle;
		let dropped = stored.len() - k;
		self.write(|txn| {
			let mut entries = txn.open_table(ENTRIES)?;
			entries.retain(|i, _| i < k as u64)?;
			txn.open_table(META)?.insert(CYCLE, &cycle.encode()[..])?;
			Ok(())
		})?;
		for entry in stored.into_iter().take(k) {
			self.push(entry);
		}
		Ok(dropped)
	}

	fn push(&mut self, entry: LogEvent) {
		let digest = entry.digest();
		if once(entry.kind) {
			self.once.insert(digest);
		}
		self.values.push(extend(self.head(), &digest));
		self.entries.push(entry);
	}

	fn write(
		&self,
		f: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
	) -> Result<(), LogError> {
		let fail = self.store_error();
		let txn = self.db.begin_write().map_err(|e| fail(e.to_string()))?;
		f(&txn).map_err(|e| fail(e.to_string()))?;
		txn.commit().map_err(|e| fail(e.to_string()))
	}

	/// The log PCR.
	pub fn pcr(&self) -> u8 {
		self.cycle.pcr
	}

	/// The TPM cycle the log is kept for.
	pub fn cycle(&self) -> Cycle {
		self.cycle
	}

	/// The entries extended in this cycle, in order.
	pub fn entries(&self) -> &[LogEvent] {
		&self.entries
	}

	/// The log PCR's value after every entry.
	pub fn head(&self) -> &[u8; 32] {
		self.values.last().expect("values start with zero")
	}

	/// Whether the log reproduces the log PCR (see [`LogError::Unprovable`]).
	pub fn provable(&self) -> bool {
		self.provable
	}

	/// Whether an extend's outcome is not known yet.
	pub fn unsettled(&self) -> bool {
		self.pending.is_some()
	}

	/// Records `kind`/`data` before it is extended: returns the digest to extend, or `None`
	/// when nothing is to be extended (an actor or provider already recorded in this cycle).
	/// The caller extends it, then calls [`EvidenceLog::extended`]; if it cannot tell whether
	/// the extend happened, it calls [`EvidenceLog::settle`] with the PCR's value instead.
	pub fn begin(&mut self, kind: EventKind, data: &[u8]) -> Result<Option<[u8; 32]>, LogError> {
		let pcr = self.pcr();
		if !self.provable {
			return Err(LogError::Unprovable { pcr });
		}
		if self.pending.is_some() {
			return Err(LogError::Unsettled { pcr });
		}
		let data = data.to_vec().try_into().map_err(|d: Vec<u8>| LogError::TooLong(d.len()))?;
		let entry = LogEvent { pcr, kind, data };
		let digest = entry.digest();
		if once(kind) && self.once.contains(&digest) {
			return Ok(None);
		}
		// A relaunch of the same binary, or with the same configuration, adds nothing: the PCR
		// shows it already as the last one (a crash loop must not fill the log).
		if matches!(kind, EventKind::Runtime | EventKind::Config)
			&& self.entries.iter().rev().find(|e| e.kind == kind) == Some(&entry)
		{
			return Ok(None);
		}
		// Room for a relaunch's entries stays free: only actor loads wait.
		if let Some((_, max)) = self.chain.filter(|_| kind == EventKind::Actor) {
			let unproven = self.unproven();
			if unproven + 1 > max.saturating_sub(DEFERRED_ROOM) as usize {
				return Err(LogError::Full { unproven, max });
			}
		}
		let at = self.entries.len() as u64;
		let bytes = entry.encode();
		self.write(|txn| {
			txn.open_table(ENTRIES)?.insert(at, &bytes[..])?;
			Ok(())
		})?;
		self.pending = Some(entry);
		Ok(Some(digest))
	}

	/// The pending entry was extended.
	pub fn extended(&mut self) {
		if let Some(entry) = self.pending.take() {
			self.push(entry);
		}
	}

	/// Checks the log against the TPM's log PCR `value` (read or quoted): a pending entry is
	/// kept if it was extended, dropped if it was not; any other value makes the log
	/// unprovable. Returns whether the log is provable.
	pub fn settle(&mut self, value: [u8; 32]) -> Result<bool, LogError> {
		if !self.provable {
			return Ok(false);
		}
		if let Some(entry) = self.pending.take() {
			if value == extend(self.head(), &entry.digest()) {
				self.push(entry);
				return Ok(true);
			}
			if value == *self.head() {
				let at = self.entries.len() as u64;
				self.write(|txn| {
					txn.open_table(ENTRIES)?.remove(at)?;
					Ok(())
				})?;
				return Ok(true);
			}
		}
		self.provable = value == *self.head();
		Ok(self.provable)
	}

	/// Tells the log what the chain accepted last from this node (`base`, as
	/// [`EvidenceLog::since`] takes it) and how many entries a quote may carry (`max`, the
	/// chain's `MaxLogEntries`): actor loads that might not fit in the next quote wait.
	pub fn set_chain(&mut self, base: Option<(u32, [u8; 32])>, max: u32) {
		self.chain = Some((base, max));
	}

	/// Entries not yet proven to the chain (after its base in this cycle; all without one).
	pub fn unproven(&self) -> usize {
		let base = self.chain.and_then(|(base, _)| base);
		self.since(base, self.cycle.reset_count).len()
	}

	/// Whether the last launch logged in this cycle is of `runtime` with configuration
	/// `config` (the process that asks is what `tea-worker launch` measured); else why not.
	pub fn launched(&self, runtime: &[u8; 32], config: &[u8; 32]) -> Result<(), String> {
		let last = |kind| self.entries.iter().rev().find(|e| e.kind == kind).map(|e| &e.data[..]);
		match (last(EventKind::Runtime), last(EventKind::Config)) {
			(None, _) => Err("no launch is logged in this TPM cycle: start the worker with `tea-worker launch` (it measures the binary and its configuration before they run); until then this node does not attest"
				.into()),
			(Some(r), _) if r != runtime => Err("the last launch logged measured another binary than this one: start the worker with `tea-worker launch`; until then this node does not attest"
				.into()),
			(_, c) if c != Some(&config[..]) => Err("the last launch logged measured another configuration: start the worker with `tea-worker launch` and the same options; until then this node does not attest"
				.into()),
			_ => Ok(()),
		}
	}

	/// The entries a quote whose log PCR shows [`head`](Self::head) must carry, given what
	/// the chain accepted last from this node (`base`: the TPM reset count and log PCR value
	/// of its last accepted quote) and the quote's `reset_count`: the entries after `base`
	/// if it is in this cycle's log, else all of them (the chain replays those from zero).
	pub fn since(&self, base: Option<(u32, [u8; 32])>, reset_count: u32) -> &[LogEvent] {
		let start = base
			.filter(|(reset, _)| *reset == reset_count)
			.and_then(|(_, value)| self.values.iter().rposition(|v| *v == value))
			.unwrap_or(0);
		&self.entries[start..]
	}
}

/// The TEA runtime's `MaxLogEntries`, assumed until the chain says.
pub const DEFAULT_MAX_ENTRIES: u32 = 64;

/// Entries kept free below the chain's bound for a relaunch (`Runtime`, `Config` and the new
/// process's `ReceiptKey`) and, should the new build not start, the launcher's fallback to its
/// own (three more).
pub const DEFERRED_ROOM: u32 = 6;

/// Whether entries of `kind` are recorded once per cycle.
fn once(kind: EventKind) -> bool {
	matches!(kind, EventKind::Actor | EventKind::Provider)
}

#[cfg(test)]
mod tests {
	use super::*;

	const PCR: u8 = DEFAULT_LOG_PCR;

	fn cycle(reset_count: u32) -> Cycle {
		Cycle { reset_count, restart_count: 0, pcr: PCR }
	}

	/// A software log PCR: what a TPM holds after the extends it was given.
	struct Pcr([u8; 32]);

	impl Pcr {
		fn measure(&mut self, log: &mut EvidenceLog, kind: EventKind, data: &[u8]) -> bool {
			match log.begin(kind, data).unwrap() {
				Some(digest) => {
					self.0 = extend(&self.0, &digest);
					log.extended();
					true
				}
				None => false,
			}
		}
	}

	#[test]
	fn entries_replay_to_the_pcr_and_survive_a_restart_of_the_worker() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("evidence.redb");
		let mut pcr = Pcr([0; 32]);
		let (mut log, opened) = EvidenceLog::open(&path, cycle(3), pcr.0).unwrap();
		assert_eq!(opened, Opened::Started { previous: 0 });
		assert!(pcr.measure(&mut log, EventKind::Runtime, &[1; 32]));
		assert!(pcr.measure(&mut log, EventKind::Config, &[2; 32]));
		assert!(pcr.measure(&mut log, EventKind::Actor, &[3; 36]));
		assert!(!pcr.measure(&mut log, EventKind::Actor, &[3; 36]), "an actor once per cycle");
		assert_eq!(log.entries().len(), 3);
		assert_eq!(*log.head(), pcr.0);
		drop(log);
		// The worker restarts; the TPM did not (an external TPM): the log goes on.
		let (mut log, opened) = EvidenceLog::open(&path, cycle(3), pcr.0).unwrap();
		assert_eq!(opened, Opened::Continued { entries: 3, dropped: 0 });
		assert!(!pcr.measure(&mut log, EventKind::Actor, &[3; 36]), "still recorded");
		// Relaunched: the same build and configuration are the last ones recorded already.
		assert!(!pcr.measure(&mut log, EventKind::Runtime, &[1; 32]), "the same build");
		assert!(!pcr.measure(&mut log, EventKind::Config, &[2; 32]), "the same configuration");
		// Another build, then the first one again: each launch counts.
		assert!(pcr.measure(&mut log, EventKind::Runtime, &[7; 32]));
		assert!(pcr.measure(&mut log, EventKind::Runtime, &[1; 32]));
		assert!(!pcr.measure(&mut log, EventKind::Config, &[2; 32]));
		assert_eq!(log.entries().len(), 5);
		assert_eq!(*log.head(), pcr.0);
	}

	#[test]
	fn a_crash_between_writing_and_extending_drops_the_entry_that_was_never_extended() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("evidence.redb");
		let mut pcr = Pcr([0; 32]);
		let (mut log, _) = EvidenceLog::open(&path, cycle(1), pcr.0).unwrap();
		pcr.measure(&mut log, EventKind::Runtime, &[1; 32]);
		// Written, then the worker dies before the extend.
		log.begin(EventKind::Actor, &[9; 36]).unwrap().unwrap();
		drop(log);
		let (mut log, opened) = EvidenceLog::open(&path, cycle(1), pcr.0).unwrap();
		assert_eq!(opened, Opened::Continued { entries: 1, dropped: 1 });
		// It is measured again when loaded again (it was never recorded as measured).
		assert!(pcr.measure(&mut log, EventKind::Actor, &[9; 36]));
		assert_eq!(*log.head(), pcr.0);
		drop(log);
		let (log, opened) = EvidenceLog::open(&path, cycle(1), pcr.0).unwrap();
		assert_eq!(opened, Opened::Continued { entries: 2, dropped: 0 });
		assert_eq!(log.entries()[1].data.to_vec(), vec![9; 36]);
	}

	#[test]
	fn an_extend_with_an_unknown_outcome_is_settled_by_the_pcr_value() {
		let dir = tempfile::tempdir().unwrap();
		let mut pcr = Pcr([0; 32]);
		let (mut log, _) = EvidenceLog::open(&dir.path().join("e"), cycle(1), pcr.0).unwrap();
		pcr.measure(&mut log, EventKind::Runtime, &[1; 32]);
		// The TPM did not answer, and did not extend.
		log.begin(EventKind::Actor, &[4; 36]).unwrap().unwrap();
		assert!(matches!(log.begin(EventKind::Actor, &[5; 36]), Err(LogError::Unsettled { .. })));
		assert!(log.settle(pcr.0).unwrap());
		assert_eq!(log.entries().len(), 1);
		// The TPM did not answer, but did extend.
		let digest = log.begin(EventKind::Actor, &[4; 36]).unwrap().unwrap();
		pcr.0 = extend(&pcr.0, &digest);
		assert!(log.settle(pcr.0).unwrap());
		assert_eq!(log.entries().len(), 2);
		assert_eq!(*log.head(), pcr.0);
		// A value that is neither: something else extended the PCR.
		assert!(!log.settle([7; 32]).unwrap());
		assert!(matches!(log.begin(EventKind::Actor, &[6; 36]), Err(LogError::Unprovable { .. })));
	}

	#[test]
	fn a_foreign_extend_or_a_lost_log_is_unprovable_until_the_tpm_is_reset() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("evidence.redb");
		let mut pcr = Pcr([0; 32]);
		let (mut log, _) = EvidenceLog::open(&path, cycle(1), pcr.0).unwrap();
		pcr.measure(&mut log, EventKind::Runtime, &[1; 32]);
		drop(log);
		// `tpm2_pcrextend 13:sha256=…` by another program.
		let foreign = extend(&pcr.0, &[0xee; 32]);
		let (mut log, opened) = EvidenceLog::open(&path, cycle(1), foreign).unwrap();
		assert_eq!(opened, Opened::Unprovable);
		assert!(!log.provable());
		assert!(matches!(
			log.begin(EventKind::Runtime, &[1; 32]),
			Err(LogError::Unprovable { .. })
		));
		drop(log);
		// The log of another cycle proves nothing about this one.
		let (_, opened) = EvidenceLog::open(&path, cycle(2), pcr.0).unwrap();
		assert_eq!(opened, Opened::Unprovable);
		// A lost log.
		let (_, opened) = EvidenceLog::open(&dir.path().join("new"), cycle(1), pcr.0).unwrap();
		assert_eq!(opened, Opened::Unprovable);
		// After a reset the PCR is zero: a new cycle, the old entries kept aside.
		let (log, opened) = EvidenceLog::open(&path, cycle(2), [0; 32]).unwrap();
		assert_eq!(opened, Opened::Started { previous: 1 });
		assert!(log.provable());
		assert!(log.entries().is_empty());
	}

	#[test]
	fn a_quote_carries_the_entries_after_the_chains_base_in_its_cycle() {
		let dir = tempfile::tempdir().unwrap();
		let mut pcr = Pcr([0; 32]);
		let (mut log, _) = EvidenceLog::open(&dir.path().join("e"), cycle(5), pcr.0).unwrap();
		pcr.measure(&mut log, EventKind::Runtime, &[1; 32]);
		pcr.measure(&mut log, EventKind::Config, &[2; 32]);
		let accepted = pcr.0;
		pcr.measure(&mut log, EventKind::Actor, &[3; 36]);
		assert_eq!(log.since(Some((5, accepted)), 5).len(), 1, "after the accepted value");
		assert_eq!(log.since(Some((5, pcr.0)), 5).len(), 0, "nothing new");
		assert_eq!(log.since(None, 5).len(), 3, "nothing accepted yet");
		assert_eq!(log.since(Some((4, accepted)), 5).len(), 3, "accepted before a reset");
		assert_eq!(log.since(Some((5, [9; 32])), 5).len(), 3, "a value this log never held");
	}

	#[test]
	fn actor_loads_wait_when_the_next_quote_might_not_carry_them() {
		let dir = tempfile::tempdir().unwrap();
		let mut pcr = Pcr([0; 32]);
		let (mut log, _) = EvidenceLog::open(&dir.path().join("e"), cycle(1), pcr.0).unwrap();
		pcr.measure(&mut log, EventKind::Runtime, &[1; 32]);
		// A quote may carry 10 entries: 4 fit beside the 6 kept for a relaunch (its runtime,
		// configuration and receipt key) and the launcher's fallback (three more).
		log.set_chain(None, 10);
		for i in 0..3u8 {
			assert!(pcr.measure(&mut log, EventKind::Actor, &[i; 36]));
		}
		assert_eq!(log.unproven(), 4);
		assert!(matches!(
			log.begin(EventKind::Actor, &[9; 36]),
			Err(LogError::Full { unproven: 4, max: 10 })
		));
		// What is logged already is no new entry; a relaunch and its fallback still fit.
		assert!(!pcr.measure(&mut log, EventKind::Actor, &[0; 36]));
		assert!(pcr.measure(&mut log, EventKind::Runtime, &[8; 32]));
		assert!(pcr.measure(&mut log, EventKind::Config, &[2; 32]));
		assert!(pcr.measure(&mut log, EventKind::ReceiptKey, &[5; 32]));
		assert!(pcr.measure(&mut log, EventKind::Runtime, &[1; 32]));
		assert!(pcr.measure(&mut log, EventKind::Config, &[3; 32]));
		assert!(pcr.measure(&mut log, EventKind::ReceiptKey, &[6; 32]));
		assert_eq!(log.unproven(), 10);
		// The chain accepted a quote of all of it: loads go on.
		log.set_chain(Some((1, pcr.0)), 10);
		assert_eq!(log.unproven(), 0);
		assert!(pcr.measure(&mut log, EventKind::Actor, &[9; 36]));
		assert_eq!(*log.head(), pcr.0);
	}

	#[test]
	fn hostile_configuration_and_data_are_refused() {
		let dir = tempfile::tempdir().unwrap();
		for pcr in [16, 23, 255] {
			let bad = Cycle { pcr, ..cycle(1) };
			assert!(matches!(
				EvidenceLog::open(&dir.path().join("e"), bad, [0; 32]),
				Err(LogError::BadPcr(p)) if p == pcr
			));
		}
		let (mut log, _) = EvidenceLog::open(&dir.path().join("e"), cycle(1), [0; 32]).unwrap();
		assert!(matches!(log.begin(EventKind::Actor, &[0; 65]), Err(LogError::TooLong(65))));
		assert!(log.entries().is_empty());
		// A second worker on the same data dir.
		assert!(matches!(
			EvidenceLog::open(&dir.path().join("e"), cycle(1), [0; 32]),
			Err(LogError::Store { reason, .. }) if reason.contains("already open")
		));
	}
}
