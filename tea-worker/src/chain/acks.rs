//! Acknowledged receipts, from the client that accepted them to `rewards.submitReceipts`.
//!
//! A client that verified a receipt signs it (`tea_primitives::receipt::Acknowledged`) and
//! hands it back to the node (`POST /v1/acks`, or `tea-worker task run --ack`).
//! [`AckQueue::offer`] checks what the node can check alone — its own receipt and signature,
//! the client's acknowledgement, not the operator's own task, not queued already, made in the
//! current era as last read — and stores it in the outbox's database (`acks`), so neither a
//! restart nor a crash loses it.
//!
//! The node duty sends them when nothing about the node itself is owed: at most [`BATCH`] (the
//! runtime's `MaxBatch`) per extrinsic, oldest first, as soon as a batch is full and otherwise
//! every [`BATCH_EVERY`] blocks (dev eras are 20 blocks: a receipt reaches the chain well
//! before its era ends). [`AckQueue::prepare`] first reads, at the latest finalized block,
//! what the chain would refuse or not count, and drops it with its reason: receipts of an
//! ended era (`stale`), counted already (`counted`), signed by a key the chain no longer
//! binds (`key_not_bound`), worth no point (`worthless`), of a client account the chain does
//! not have (`unknown_client`), and everything once the node forfeited the era or the era or
//! node is full (`full`). The chain still checks everything. One bad receipt fails its whole
//! batch with its own error: after a refused batch the receipts go one per extrinsic, a
//! receipt the chain refuses alone is dropped with the chain's error, and batches grow again
//! once one lands ([`AckQueue::settle`]). A receipt leaves the queue when its batch is
//! finalized; a batch that timed out stays in the outbox and is followed until it settles.
//!
//! Who can fill the queue: anyone holding a receipt of this node and its client's key, that
//! is anyone who ran a task here (at the client rate). The queue holds at most
//! [`MAX_QUEUED`]; past that, acknowledgements are refused (`full`) until batches drain it.

use super::{
	by_key, by_keys, by_node,
	outbox::{Outbox, OutboxError, ACKS, ACK_IDS},
	request_error,
	signer::Finalized,
	value, ChainClient, ChainError, LOG_TARGET,
};
use crate::receipts::ChainSignedReceipt;
use codec::{Decode, DecodeAll, Encode};
use redb::{ReadableTable, ReadableTableMetadata};
use sp_core::H256;
use sp_runtime::{AccountId32, MultiSignature};
use std::sync::{
	atomic::{AtomicBool, AtomicU32, Ordering},
	Arc,
};
use tea_primitives::receipt;

/// An acknowledged receipt as the TEA runtime's types make it.
pub type ChainAcknowledged = receipt::Acknowledged<AccountId32, u32, H256, MultiSignature>;

/// Receipts one `rewards.submitReceipts` carries at most (the runtime's `MaxBatch`).
pub const BATCH: usize = 64;
/// Most acknowledged receipts queued at once.
pub const MAX_QUEUED: usize = 8192;
/// Queued receipts one batch looks at (the oldest): what the chain would not count is dropped.
pub const INSPECT: usize = 4 * BATCH;
/// Blocks between two batches while none is full.
pub const BATCH_EVERY: u32 = 3;

/// The runtime's `frame_system::AccountInfo` (nonce, consumers, providers, sufficients) with
/// `pallet_balances::AccountData` (free, reserved, frozen, flags): only its presence is read.
type AccountInfo = (u32, u32, u32, u32, [u128; 4]);

/// A queued receipt: its block, client and nonce. Queue order is this order: oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Encode, Decode)]
pub struct AckId {
	/// The receipt's block.
	pub block: u32,
	/// Its client.
	pub client: [u8; 32],
	/// The client's nonce.
	pub nonce: u64,
}

impl AckId {
	/// The id of `signed`.
	pub fn of(signed: &ChainSignedReceipt) -> Self {
		let r = &signed.receipt;
		Self { block: r.block, client: r.client.clone().into(), nonce: r.nonce }
	}

	/// Its key in `acks` (big-endian: byte order is queue order).
	fn order(&self) -> Vec<u8> {
		let mut key = self.block.to_be_bytes().to_vec();
		key.extend_from_slice(&self.id());
		key
	}

	/// Its key in `ack_ids`: one receipt per client and nonce.
	fn id(&self) -> Vec<u8> {
		let mut key = self.client.to_vec();
		key.extend_from_slice(&self.nonce.to_be_bytes());
		key
	}

	fn from_order(key: &[u8]) -> Option<Self> {
		let (block, rest) = key.split_first_chunk::<4>()?;
		let (client, nonce) = rest.split_first_chunk::<32>()?;
		Some(Self {
			block: u32::from_be_bytes(*block),
			client: *client,
			nonce: u64::from_be_bytes(nonce.try_into().ok()?),
		})
	}
}

/// Why an acknowledgement was refused. [`AckRefusal::kind`] is what the client sees as
/// `error`.
#[derive(Debug, thiserror::Error)]
pub enum AckRefusal {
	/// The receipt or the acknowledgement does not decode.
	#[error("{0}")]
	Malformed(String),
	/// The receipt is another node's.
	#[error("the receipt is node {0}'s, not this one's")]
	WrongNode(String),
	/// The node's signature does not verify.
	#[error(
		"the receipt's signature is not its key's over it: it is not the receipt this node sent"
	)]
	BadReceiptSignature,
	/// The acknowledgement is not the client's.
	#[error("the acknowledgement is not the receipt's client's signature over b\"tea/ack/v1\" ‖ SHA-256(the SCALE signed receipt)")]
	BadAcknowledgement,
	/// The client is the node's operator.
	#[error("the client is this node's operator: its own tasks earn nothing")]
	SelfDealing,
	/// The receipt's era ended.
	#[error("the receipt is of block {block}, before the current era began at block {era_start}: it can no longer count")]
	Stale {
		/// The receipt's block.
		block: u32,
		/// Where the current era began.
		era_start: u32,
	},
	/// Queued already.
	#[error("this client's receipt with nonce {0} is queued already")]
	Duplicate(u64),
	/// The queue is full.
	#[error("{MAX_QUEUED} acknowledged receipts are queued: try again in a few blocks")]
	Full,
	/// The local store failed.
	#[error(transparent)]
	Store(#[from] OutboxError),
}

impl AckRefusal {
	/// A short, stable name of the refusal.
	pub fn kind(&self) -> &'static str {
		match self {
			Self::Malformed(_) => "bad_request",
			Self::WrongNode(_) => "wrong_node",
			Self::BadReceiptSignature => "bad_receipt_signature",
			Self::BadAcknowledgement => "bad_acknowledgement",
			Self::SelfDealing => "self_dealing",
			Self::Stale { .. } => "stale",
			Self::Duplicate(_) => "duplicate",
			Self::Full => "full",
			Self::Store(_) => "store",
		}
	}
}

/// A batch to send, and what was dropped to make it.
#[derive(Debug, Default)]
pub struct Prepared {
	/// The receipts to send, oldest first.
	pub batch: Vec<(AckId, ChainAcknowledged)>,
	/// How many were dropped, by reason.
	pub dropped: Vec<(&'static str, u32)>,
}

impl Prepared {
	fn drop(&mut self, why: &'static str, n: usize) {
		if n == 0 {
			return;
		}
		let n = u32::try_from(n).unwrap_or(u32::MAX);
		match self.dropped.iter_mut().find(|(reason, _)| *reason == why) {
			Some((_, count)) => *count = count.saturating_add(n),
			None => self.dropped.push((why, n)),
		}
	}
}

/// How a sent batch ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
	/// Finalized: its receipts left the queue.
	Counted {
		/// The extrinsic's events.
		events: Vec<String>,
	},
	/// A lone receipt the chain refused: dropped.
	Refused {
		/// The chain's error, `Pallet.Error`.
		error: String,
	},
}

/// The node's queue of acknowledged receipts.
pub struct AckQueue {
	outbox: Arc<Outbox>,
	node: [u8; 32],
	operator: AccountId32,
	/// Where the current era began, as last read (0: not read yet).
	era_start: AtomicU32,
	/// After a refused batch: one receipt per batch until one lands.
	single: AtomicBool,
}

impl AckQueue {
	/// The queue of node `node` operated by `operator`, stored in `outbox`'s database.
	pub fn new(outbox: Arc<Outbox>, node: [u8; 32], operator: AccountId32) -> Self {
		Self {
			outbox,
			node,
			operator,
			era_start: AtomicU32::new(0),
			single: AtomicBool::new(false),
		}
	}

	/// Queues the SCALE `SignedReceipt` `receipt` with the client's SCALE `MultiSignature`
	/// `acknowledgement`; how many are queued.
	pub fn offer(&self, receipt: &[u8], acknowledgement: &[u8]) -> Result<usize, AckRefusal> {
		let signed = ChainSignedReceipt::decode_all(&mut &receipt[..])
			.map_err(|e| AckRefusal::Malformed(format!("the receipt does not decode: {e}")))?;
		let acknowledgement =
			MultiSignature::decode_all(&mut &acknowledgement[..]).map_err(|e| {
				AckRefusal::Malformed(format!("the acknowledgement does not decode: {e}"))
			})?;
		let acked = ChainAcknowledged { signed, acknowledgement };
		let r = &acked.signed.receipt;
		if r.node != self.node {
			return Err(AckRefusal::WrongNode(crate::hex0x(&r.node)));
		}
		if !acked.signed.signature_valid() {
			return Err(AckRefusal::BadReceiptSignature);
		}
		if !acked.acknowledgement_valid() {
			return Err(AckRefusal::BadAcknowledgement);
		}
		if r.client == self.operator {
			return Err(AckRefusal::SelfDealing);
		}
		let era_start = self.era_start.load(Ordering::Relaxed);
		if r.block < era_start {
			return Err(AckRefusal::Stale { block: r.block, era_start });
		}
		let id = AckId::of(&acked.signed);
		let (order, key, value) = (id.order(), id.id(), acked.encode());
		let mut queued = Err(AckRefusal::Full);
		self.outbox.write(|txn| {
			let mut ids = txn.open_table(ACK_IDS)?;
			if ids.get(key.as_slice())?.is_some() {
				queued = Err(AckRefusal::Duplicate(id.nonce));
				return Ok(());
			}
			let mut acks = txn.open_table(ACKS)?;
			let len = acks.len()? as usize;
			if len >= MAX_QUEUED {
				return Ok(());
			}
			ids.insert(key.as_slice(), id.block)?;
			acks.insert(order.as_slice(), value.as_slice())?;
			queued = Ok(len + 1);
			Ok(())
		})?;
		queued
	}

	/// How many are queued.
	pub fn len(&self) -> Result<usize, OutboxError> {
		self.outbox.read(|txn| Ok(txn.open_table(ACKS)?.len()? as usize))
	}

	/// Whether none is queued.
	pub fn is_empty(&self) -> Result<bool, OutboxError> {
		Ok(self.len()? == 0)
	}

	/// The oldest `n` queued receipts. One that does not decode (a file from another version)
	/// is dropped with an error logged: it would hold the queue up for good.
	pub fn oldest(&self, n: usize) -> Result<Vec<(AckId, ChainAcknowledged)>, OutboxError> {
		let raw: Vec<(Vec<u8>, Vec<u8>)> = self.outbox.read(|txn| {
			let acks = txn.open_table(ACKS)?;
			let mut raw = Vec::new();
			for item in acks.iter()?.take(n) {
				let (key, value) = item?;
				raw.push((key.value().to_vec(), value.value().to_vec()));
			}
			Ok(raw)
		})?;
		let mut oldest = Vec::with_capacity(raw.len());
		let mut undecodable = Vec::new();
		for (key, value) in raw {
			match (AckId::from_order(&key), ChainAcknowledged::decode_all(&mut &value[..])) {
				(Some(id), Ok(acked)) => oldest.push((id, acked)),
				_ => undecodable.push(key),
			}
		}
		if !undecodable.is_empty() {
			tracing::error!(target: LOG_TARGET, entries = undecodable.len(), "queued acknowledgements do not decode: dropped");
			self.outbox.write(|txn| {
				let mut acks = txn.open_table(ACKS)?;
				let mut ids = txn.open_table(ACK_IDS)?;
				for key in &undecodable {
					acks.remove(key.as_slice())?;
					if key.len() > 4 {
						ids.remove(&key[4..])?;
					}
				}
				Ok(())
			})?;
		}
		Ok(oldest)
	}

	/// Removes `ids` from the queue.
	pub fn remove(&self, ids: &[AckId]) -> Result<(), OutboxError> {
		if ids.is_empty() {
			return Ok(());
		}
		self.outbox.write(|txn| {
			let mut acks = txn.open_table(ACKS)?;
			let mut keys = txn.open_table(ACK_IDS)?;
			for id in ids {
				acks.remove(id.order().as_slice())?;
				keys.remove(id.id().as_slice())?;
			}
			Ok(())
		})
	}

	/// Removes every receipt of a block before `block` (none: every receipt); how many.
	fn remove_before(&self, block: Option<u32>) -> Result<usize, OutboxError> {
		let bound = block.map(u32::to_be_bytes);
		let gone: Vec<AckId> = self.outbox.read(|txn| {
			let acks = txn.open_table(ACKS)?;
			let mut gone = Vec::new();
			let range = match &bound {
				Some(bound) => acks.range::<&[u8]>(..bound.as_slice())?,
				None => acks.iter()?,
			};
			for item in range {
				gone.extend(AckId::from_order(item?.0.value()));
			}
			Ok(gone)
		})?;
		self.remove(&gone)?;
		Ok(gone.len())
	}

	/// The next batch, read against the latest finalized block of `client`: what the chain
	/// would refuse or not count is dropped from the queue first (the module docs list why).
	pub async fn prepare(&self, client: &ChainClient) -> Result<Prepared, ChainError> {
		let url = client.url.as_str();
		let at = client
			.api
			.at_current_block()
			.await
			.map_err(|e| request_error(url, "finalized block", &subxt::Error::from(e)))?;
		let now = at.block_number() as u32;
		let node = H256(self.node);
		let era: u32 = value(&at, url, "Rewards.CurrentEra").await?;
		let era_start: u32 = value(&at, url, "Rewards.EraStart").await?;
		let params: pallet_tea_rewards::RewardParams<u32, u128> =
			value(&at, url, "Rewards.Params").await?;
		let points: Option<pallet_tea_rewards::NodePoints<AccountId32, u32>> =
			by_keys(&at, url, "Rewards.Points", era, node).await?;
		let era_receipts: u32 = value(&at, url, "Rewards.EraReceipts").await?;
		let keys: Vec<[u8; 32]> =
			by_node(&at, url, "Rewards.ReceiptKeys", node).await?.unwrap_or_default();
		self.era_start.store(era_start, Ordering::Relaxed);

		let mut prepared = Prepared::default();
		prepared.drop("stale", self.remove_before(Some(era_start))?);
		let full = era_receipts >= params.max_receipts
			|| points.as_ref().is_some_and(|p| p.forfeited || p.receipts >= params.node_receipts);
		if full {
			prepared.drop("full", self.remove_before(None)?);
			return Ok(prepared);
		}
		let limit = if self.single.load(Ordering::Relaxed) { 1 } else { BATCH };
		let mut dropped = Vec::new();
		for (id, acked) in self.oldest(INSPECT)? {
			if prepared.batch.len() >= limit {
				break;
			}
			let r = &acked.signed.receipt;
			if r.block > now {
				// Not yet final where this reads (a receipt names a finalized block).
				continue;
			}
			let seen = pallet_tea_rewards::seen_key(&node, &r.client, r.nonce);
			let why = if !keys.contains(&r.key) {
				Some("key_not_bound")
			} else if r.fuel_used / params.fuel_per_point.max(1) == 0 {
				Some("worthless")
			} else if by_keys::<u32, [u8; 32], ()>(&at, url, "Rewards.Seen", era, seen)
				.await?
				.is_some()
			{
				Some("counted")
			} else if by_key::<AccountId32, AccountInfo>(
				&at,
				url,
				"System.Account",
				r.client.clone(),
			)
			.await?
			.is_none()
			{
				Some("unknown_client")
			} else {
				None
			};
			match why {
				Some(why) => {
					prepared.drop(why, 1);
					dropped.push(id);
				}
				None => prepared.batch.push((id, acked)),
			}
		}
		self.remove(&dropped)?;
		if !prepared.dropped.is_empty() {
			tracing::info!(target: LOG_TARGET, dropped = ?prepared.dropped, "acknowledged receipts the chain would not count dropped");
		}
		Ok(prepared)
	}

	/// Settles the batch `ids` sent with `result`: finalized, its receipts leave the queue;
	/// refused with more than one receipt, the next batches carry one each; a lone receipt
	/// refused is dropped with the chain's error. Anything else (a timeout, a lapse) keeps them
	/// queued and comes back as the error.
	pub fn settle(
		&self,
		ids: &[AckId],
		result: Result<Finalized, ChainError>,
	) -> Result<Settled, ChainError> {
		match result {
			Ok(done) => {
				self.remove(ids)?;
				self.single.store(false, Ordering::Relaxed);
				Ok(Settled::Counted { events: done.events })
			}
			Err(ChainError::Dispatch { pallet, error, .. }) if ids.len() == 1 => {
				tracing::warn!(target: LOG_TARGET, id = ?ids[0], %pallet, %error, "the chain refused an acknowledged receipt: dropped");
				self.remove(ids)?;
				Ok(Settled::Refused { error: format!("{pallet}.{error}") })
			}
			Err(e) => {
				if matches!(e, ChainError::Dispatch { .. }) {
					self.single.store(true, Ordering::Relaxed);
				}
				Err(e)
			}
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::receipts::{ChainReceipt, ReceiptKey};
	use sp_core::{sr25519, Pair};
	use sp_keyring::Sr25519Keyring;

	const NODE: [u8; 32] = [7; 32];

	fn receipt(key: &ReceiptKey, client: &sr25519::Pair, nonce: u64, block: u32) -> Vec<u8> {
		let r = ChainReceipt {
			node: NODE,
			actor: b"echo".to_vec().try_into().unwrap(),
			version: 1,
			cid: tea_primitives::ContentId::of(b"echo"),
			input: [1; 32],
			output: [2; 32],
			fuel_used: 5_000,
			client: client.public().into(),
			nonce,
			block,
			block_hash: H256([3; 32]),
			attestation: 1,
			key: key.public(),
		};
		key.sign(r).encode()
	}

	fn ack(client: &sr25519::Pair, receipt: &[u8]) -> Vec<u8> {
		let signed = ChainSignedReceipt::decode_all(&mut &receipt[..]).unwrap();
		MultiSignature::from(client.sign(&signed.acknowledgement_payload()[..])).encode()
	}

	fn queue(outbox: Arc<Outbox>) -> AckQueue {
		AckQueue::new(outbox, NODE, Sr25519Keyring::Dave.to_account_id())
	}

	/// An empty queue in memory, a receipt key and the client Eve.
	fn fresh() -> (AckQueue, ReceiptKey, sr25519::Pair) {
		(queue(Arc::new(Outbox::in_memory())), ReceiptKey::generate(), Sr25519Keyring::Eve.pair())
	}

	#[test]
	fn acknowledgements_queue_oldest_first_once_each_and_survive_a_restart() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("outbox.redb");
		let key = ReceiptKey::generate();
		let eve = Sr25519Keyring::Eve.pair();
		let ferdie = Sr25519Keyring::Ferdie.pair();
		{
			let q = queue(Arc::new(Outbox::open(&path).unwrap()));
			let late = receipt(&key, &eve, 1, 30);
			assert_eq!(q.offer(&late, &ack(&eve, &late)).unwrap(), 1);
			let early = receipt(&key, &ferdie, 1, 12);
			assert_eq!(q.offer(&early, &ack(&ferdie, &early)).unwrap(), 2);
			// The same client and nonce again, even in another receipt: once.
			let again = receipt(&key, &eve, 1, 31);
			let err = q.offer(&again, &ack(&eve, &again)).unwrap_err();
			assert_eq!(err.kind(), "duplicate", "{err}");
		}
		let q = queue(Arc::new(Outbox::open(&path).unwrap()));
		let oldest = q.oldest(10).unwrap();
		let ids: Vec<_> = oldest.iter().map(|(id, _)| (id.block, id.nonce)).collect();
		assert_eq!(ids, vec![(12, 1), (30, 1)], "oldest first, after reopening");
		assert!(oldest[0].1.acknowledgement_valid());
		assert_eq!(q.remove_before(Some(13)).unwrap(), 1);
		assert_eq!(q.len().unwrap(), 1);
		// Removed, the client's nonce may be queued again (the chain says whether it counted).
		let early = receipt(&key, &ferdie, 1, 12);
		assert_eq!(q.offer(&early, &ack(&ferdie, &early)).unwrap(), 2);
		assert_eq!(q.remove_before(None).unwrap(), 2);
		assert!(q.is_empty().unwrap());
	}

	/// Attacks: another node's receipt, a receipt whose node signature was changed, an
	/// acknowledgement by someone else than the client, the operator acknowledging its own
	/// task, a receipt of an ended era, bytes that are not a receipt. Each its own refusal,
	/// nothing queued.
	#[test]
	fn bad_acknowledgements_are_refused_each_with_its_reason() {
		let (q, key, eve) = fresh();
		let good = receipt(&key, &eve, 9, 40);
		let kind = |receipt: &[u8], ack: &[u8]| q.offer(receipt, ack).unwrap_err().kind();

		let mut other = ChainSignedReceipt::decode_all(&mut &good[..]).unwrap();
		other.receipt.node = [8; 32];
		let other = key.sign(other.receipt).encode();
		assert_eq!(kind(&other, &ack(&eve, &other)), "wrong_node");

		let mut flipped = good.clone();
		*flipped.last_mut().unwrap() ^= 1;
		assert_eq!(kind(&flipped, &ack(&eve, &flipped)), "bad_receipt_signature");

		let ferdie = Sr25519Keyring::Ferdie.pair();
		assert_eq!(kind(&good, &ack(&ferdie, &good)), "bad_acknowledgement");

		let dave = Sr25519Keyring::Dave.pair();
		let own = receipt(&key, &dave, 1, 40);
		assert_eq!(kind(&own, &ack(&dave, &own)), "self_dealing");

		q.era_start.store(41, Ordering::Relaxed);
		let err = q.offer(&good, &ack(&eve, &good)).unwrap_err();
		assert!(matches!(err, AckRefusal::Stale { block: 40, era_start: 41 }), "{err}");

		assert_eq!(kind(&good[1..], &ack(&eve, &good)), "bad_request");
		assert_eq!(kind(&good, &[0xff]), "bad_request");
		assert!(q.is_empty().unwrap());

		q.era_start.store(40, Ordering::Relaxed);
		assert_eq!(q.offer(&good, &ack(&eve, &good)).unwrap(), 1);
	}

	#[test]
	fn a_refused_batch_goes_one_receipt_at_a_time_and_a_refused_receipt_is_dropped() {
		let (q, key, eve) = fresh();
		let mut ids = Vec::new();
		for nonce in 0..3 {
			let r = receipt(&key, &eve, nonce, 50 + nonce as u32);
			q.offer(&r, &ack(&eve, &r)).unwrap();
			ids.push(AckId::of(&ChainSignedReceipt::decode_all(&mut &r[..]).unwrap()));
		}
		let refused = || ChainError::Dispatch {
			what: "rewards.submitReceipts",
			pallet: "Rewards".into(),
			error: "UnknownRelease".into(),
		};
		// A batch of three refused: kept, and the next batches carry one each.
		assert!(q.settle(&ids, Err(refused())).is_err());
		assert_eq!(q.len().unwrap(), 3);
		assert!(q.single.load(Ordering::Relaxed));
		// The first alone refused: dropped with the chain's reason.
		assert_eq!(
			q.settle(&ids[..1], Err(refused())).unwrap(),
			Settled::Refused { error: "Rewards.UnknownRelease".into() }
		);
		assert_eq!(q.len().unwrap(), 2);
		// A timeout keeps them.
		let timeout = ChainError::Timeout { url: "ws://x".into(), secs: 60 };
		assert!(q.settle(&ids[1..2], Err(timeout)).is_err());
		assert_eq!(q.len().unwrap(), 2);
		// The next one lands: it leaves the queue and batches grow again.
		let done = Finalized {
			block: H256::zero(),
			events: vec!["Rewards.ReceiptsCounted".into()],
			detail: Vec::new(),
		};
		assert_eq!(
			q.settle(&ids[1..2], Ok(done)).unwrap(),
			Settled::Counted { events: vec!["Rewards.ReceiptsCounted".into()] }
		);
		assert!(!q.single.load(Ordering::Relaxed));
		assert_eq!(
			q.oldest(10).unwrap().into_iter().map(|(id, _)| id).collect::<Vec<_>>(),
			vec![ids[2]]
		);
	}

	#[test]
	fn the_queue_is_bounded() {
		let (q, key, eve) = fresh();
		let r = receipt(&key, &eve, 0, 1);
		let a = ack(&eve, &r);
		// Fill it cheaply: the same entry under MAX_QUEUED ids.
		let value = ChainAcknowledged {
			signed: ChainSignedReceipt::decode_all(&mut &r[..]).unwrap(),
			acknowledgement: MultiSignature::decode_all(&mut &a[..]).unwrap(),
		}
		.encode();
		q.outbox
			.write(|txn| {
				let mut acks = txn.open_table(ACKS)?;
				let mut keys = txn.open_table(ACK_IDS)?;
				for nonce in 1..=MAX_QUEUED as u64 {
					let id = AckId { block: 1, client: [1; 32], nonce };
					acks.insert(id.order().as_slice(), value.as_slice())?;
					keys.insert(id.id().as_slice(), 1)?;
				}
				Ok(())
			})
			.unwrap();
		assert_eq!(q.offer(&r, &a).unwrap_err().kind(), "full");
	}
}
