//! Acknowledged receipts, from the client that accepted them to `rewards.submitReceipts`.
//!
//! A client that verified a receipt signs it (`tea_primitives::receipt::Acknowledged`) and
//! hands it back to the node (`POST /v1/acks`, or `tea-worker task run --ack`).
//! [`AckQueue::offer`] takes it only while the node serves (active or on probation) and checks
//! what the node can check alone — its own receipt and signature, the client's
//! acknowledgement, not the operator's own task, made in the current era, at least a work
//! point's fuel, not queued already, room for it and under the client's quota
//! ([`PER_CLIENT`]) — then that the client is an account the chain has (one read at the
//! latest finalized block; a client found unknown is refused without a read until the next
//! block), and stores it in the
//! outbox's database (`acks`), so neither a restart nor a crash loses it. The checks and the
//! write run on the blocking pool; a write transaction is opened only for what will be
//! stored.
//!
//! The node duty tells the queue at every finalized block whether the node serves and where the era
//! began ([`AckQueue::observe`]): receipts of an ended era leave the queue then. It sends them when
//! nothing about the node itself is owed: at most [`BATCH`] (the runtime's `MaxBatch`) per
//! extrinsic, oldest first, as soon as a batch is full and otherwise every [`BATCH_EVERY`] blocks
//! (dev eras are 20 blocks: a receipt reaches the chain well before its era ends).
//! [`AckQueue::prepare`] first reads, at the latest finalized block, what the chain would refuse or
//! not count, and drops it with its reason: receipts of an ended era (`stale`), counted already
//! (`counted`), signed by a key the chain no longer binds (`key_not_bound`), of a release the chain
//! does not have or revoked by the receipt's block (`unknown_release`, `revoked_release`), of a
//! client account the chain does not have (`unknown_client`), worth no point (`worthless`: too
//! little fuel, the client at its `client_cap` with this node, or a probation share that rounds to
//! nothing; computed by the pallet's own `receipt_points`), and everything once the node forfeited
//! the era or the era or node is full (`full`). A batch is never longer than the era and the node
//! have room for. The chain still checks everything. One receipt the node signed wrong fails its
//! whole batch with its own error: the receipts of a refused batch then go first, in batches half
//! as long at each refusal and twice as long at each that lands (topped up with other receipts),
//! until every one of them has settled: one bad receipt among 64 costs about 6 refused extrinsics
//! and as many short batches. One the chain refuses alone with an error of that receipt
//! (`pallet_tea_rewards::RECEIPT_ERRORS`) is dropped ([`AckQueue::settle`]); one refused for the
//! node's sake stays. (What the chain's state refuses of a well-formed receipt, which a client
//! could change between the finalized read and the inclusion, fails no batch: the receipt counts
//! nothing and the batch lands.) What a refused batch left to find is kept in memory: after a
//! restart its receipts go in a full batch once more. A receipt leaves the queue when its batch is
//! finalized; a batch that timed out stays in the outbox and is followed until it settles.
//!
//! Who can fill the queue: anyone holding a receipt of this node and its client's key, that
//! is anyone who ran a task here (at the client rate), with an account on chain (an existential
//! deposit each). The queue holds at most [`MAX_QUEUED`], a client at most [`PER_CLIENT`];
//! past that, acknowledgements are refused (`full`, `client_full`) until batches drain it.

use super::{
	by_key, by_keys, by_node, by_three_keys, constant, exists, finalized,
	outbox::{Outbox, OutboxError, ACKS, ACK_IDS},
	signer::Finalized,
	value, ChainClient, ChainError, LOG_TARGET,
};
use crate::receipts::ChainSignedReceipt;
use codec::{Decode, DecodeAll, Encode};
use redb::{ReadableTable, ReadableTableMetadata};
use sp_core::H256;
use sp_runtime::{AccountId32, MultiSignature};
use std::{
	collections::{BTreeMap, BTreeSet, HashMap},
	sync::{
		atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
		Arc, Mutex, RwLock,
	},
};
use subxt::utils::Static;
use tea_primitives::{receipt, ContentId};

/// An acknowledged receipt as the TEA runtime's types make it.
pub type ChainAcknowledged = receipt::Acknowledged<AccountId32, u32, H256, MultiSignature>;

/// Receipts one `rewards.submitReceipts` carries at most (the runtime's `MaxBatch`, read before
/// each batch, when it is smaller).
pub const BATCH: usize = 64;
/// Most acknowledged receipts queued at once.
pub const MAX_QUEUED: usize = 8192;
/// Most acknowledged receipts of one client queued at once.
pub const PER_CLIENT: usize = 256;
/// Queued receipts one batch looks at (the oldest): what the chain would not count is dropped.
pub const INSPECT: usize = 4 * BATCH;
/// Blocks between two batches while none is full.
pub const BATCH_EVERY: u32 = 3;

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
		Self::client_key(&self.client, self.nonce)
	}

	fn client_key(client: &[u8; 32], nonce: u64) -> Vec<u8> {
		let mut key = client.to_vec();
		key.extend_from_slice(&nonce.to_be_bytes());
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
	/// The client is not an account on chain.
	#[error(
		"the client {0} is not an account on chain (it holds nothing): its receipts cannot count"
	)]
	UnknownClient(String),
	/// The receipt's era ended.
	#[error("the receipt is of block {block}, before the current era began at block {era_start}: it can no longer count")]
	Stale {
		/// The receipt's block.
		block: u32,
		/// Where the current era began.
		era_start: u32,
	},
	/// The receipt used less fuel than a work point takes.
	#[error("the task used {fuel} fuel, less than the {per_point} a work point takes: the receipt earns nothing")]
	Worthless {
		/// Its fuel.
		fuel: u64,
		/// Fuel per point.
		per_point: u64,
	},
	/// Queued already.
	#[error("this client's receipt with nonce {0} is queued already")]
	Duplicate(u64),
	/// The client has its most receipts queued.
	#[error("{PER_CLIENT} of this client's receipts are queued: try again in a few blocks")]
	ClientFull,
	/// The queue is full.
	#[error("{MAX_QUEUED} acknowledged receipts are queued: try again in a few blocks")]
	Full,
	/// The node does not serve (or has not read the chain yet): it sends no receipts.
	#[error("this node is not serving (a candidate, quarantined, exiting, a genesis node, or not connected to its chain yet): it sends no receipts now")]
	NotServing,
	/// The chain could not be read.
	#[error("the chain could not be read: {0}")]
	Chain(String),
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
			Self::UnknownClient(_) => "unknown_client",
			Self::Stale { .. } => "stale",
			Self::Worthless { .. } => "worthless",
			Self::Duplicate(_) => "duplicate",
			Self::ClientFull => "client_full",
			Self::Full => "full",
			Self::NotServing => "not_serving",
			Self::Chain(_) => "chain",
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

/// Where the queue asks whether a client is an account on chain: [`ChainClient`], at its
/// latest finalized block.
pub trait Accounts: Send + Sync {
	/// Whether `who` is an account (the error: why the chain could not say).
	fn exists(&self, who: AccountId32) -> futures::future::BoxFuture<'_, Result<bool, String>>;
}

impl Accounts for ChainClient {
	fn exists(&self, who: AccountId32) -> futures::future::BoxFuture<'_, Result<bool, String>> {
		Box::pin(async move {
			let at = finalized(self).await.map_err(|e| e.to_string())?;
			exists(&at, &self.url, "System.Account", (Static(who),))
				.await
				.map_err(|e| e.to_string())
		})
	}
}

/// The node's queue of acknowledged receipts.
pub struct AckQueue {
	outbox: Arc<Outbox>,
	node: [u8; 32],
	operator: AccountId32,
	/// Where the current era began, as last read (0: not read yet).
	era_start: AtomicU32,
	/// Whether the node served at the latest finalized block the duty read.
	serving: AtomicBool,
	/// The chain the duty follows (where clients' accounts are looked up).
	chain: RwLock<Option<Arc<dyn Accounts>>>,
	/// Fuel per work point, as last read (0: not read yet).
	fuel_per_point: AtomicU64,
	/// Clients the chain did not have at the latest finalized block the duty read.
	unknown: Mutex<BTreeSet<AccountId32>>,
	/// What a refused batch left to find.
	probe: Mutex<Probe>,
}

/// After a batch the chain refused for one of its receipts: the receipts of that batch not
/// settled yet, sent first and `size` a batch while any is queued (topped up with others).
/// Each refusal halves the size and each batch that lands doubles it, so one bad receipt among
/// [`BATCH`] costs about log2([`BATCH`]) refused extrinsics, not one per receipt.
#[derive(Default)]
struct Probe {
	suspects: BTreeSet<AckId>,
	size: usize,
}

/// Most clients remembered as unknown between two finalized blocks.
const MAX_UNKNOWN: usize = 4096;

/// Runs `f` on the blocking pool (signature checks, the database).
async fn blocking<R: Send + 'static>(
	f: impl FnOnce() -> Result<R, AckRefusal> + Send + 'static,
) -> Result<R, AckRefusal> {
	tokio::task::spawn_blocking(f)
		.await
		.unwrap_or_else(|e| Err(AckRefusal::Chain(format!("the check did not finish: {e}"))))
}

impl AckQueue {
	/// The queue of node `node` operated by `operator`, stored in `outbox`'s database. It
	/// takes nothing until [`AckQueue::observe`] says the node serves.
	pub fn new(outbox: Arc<Outbox>, node: [u8; 32], operator: AccountId32) -> Self {
		Self {
			outbox,
			node,
			operator,
			era_start: AtomicU32::new(0),
			serving: AtomicBool::new(false),
			chain: RwLock::new(None),
			fuel_per_point: AtomicU64::new(0),
			unknown: Mutex::new(BTreeSet::new()),
			probe: Mutex::new(Probe::default()),
		}
	}

	/// What the node duty read at a finalized block of `chain`: whether the node serves,
	/// where the current era began and the fuel a work point takes (receipts with less are
	/// refused). Receipts of an ended era leave the queue; how many.
	pub fn observe(
		&self,
		chain: Arc<dyn Accounts>,
		serving: bool,
		era_start: u32,
		fuel_per_point: u64,
	) -> Result<usize, OutboxError> {
		*self.chain.write().unwrap_or_else(|e| e.into_inner()) = Some(chain);
		self.serving.store(serving, Ordering::Relaxed);
		self.fuel_per_point.store(fuel_per_point, Ordering::Relaxed);
		self.unknown.lock().unwrap_or_else(|e| e.into_inner()).clear();
		self.era_began(era_start)
	}

	/// [`AckQueue::observe`] of the latest finalized block of `chain`. Clients found unknown
	/// are forgotten first, even when the chain cannot be read.
	pub async fn follow(
		&self,
		chain: &Arc<ChainClient>,
		serving: bool,
	) -> Result<usize, ChainError> {
		self.unknown.lock().unwrap_or_else(|e| e.into_inner()).clear();
		let at = finalized(chain).await?;
		let params: pallet_tea_rewards::RewardParams<u32, u128> =
			value(&at, &chain.url, "Rewards.Params").await?;
		let era_start = value(&at, &chain.url, "Rewards.EraStart").await?;
		Ok(self.observe(chain.clone(), serving, era_start, params.fuel_per_point)?)
	}

	/// The current era began at `era_start`: receipts of a block before it leave the queue
	/// (once per era); how many.
	fn era_began(&self, era_start: u32) -> Result<usize, OutboxError> {
		let before = self.era_start.fetch_max(era_start, Ordering::Relaxed);
		if era_start > before {
			self.remove_before(Some(era_start))
		} else {
			Ok(0)
		}
	}

	/// Queues the SCALE `SignedReceipt` `receipt` with the client's SCALE `MultiSignature`
	/// `acknowledgement` (the module docs list the checks); how many are queued.
	pub async fn offer(
		self: &Arc<Self>,
		receipt: Vec<u8>,
		acknowledgement: Vec<u8>,
	) -> Result<usize, AckRefusal> {
		let chain = self.chain.read().unwrap_or_else(|e| e.into_inner()).clone();
		let Some(chain) = chain.filter(|_| self.serving.load(Ordering::Relaxed)) else {
			return Err(AckRefusal::NotServing);
		};
		let queue = self.clone();
		let acked = blocking(move || {
			let acked = queue.check(&receipt, &acknowledgement)?;
			queue.room(&AckId::of(&acked.signed))?;
			Ok(acked)
		})
		.await?;
		let client = acked.signed.receipt.client.clone();
		// A client found unknown is not looked up again before the next finalized block.
		let unknown = || AckRefusal::UnknownClient(client.to_string());
		if self.unknown.lock().unwrap_or_else(|e| e.into_inner()).contains(&client) {
			return Err(unknown());
		}
		if !chain.exists(client.clone()).await.map_err(AckRefusal::Chain)? {
			let mut known = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
			if known.len() >= MAX_UNKNOWN {
				known.clear();
			}
			known.insert(client.clone());
			return Err(unknown());
		}
		let queue = self.clone();
		blocking(move || queue.insert(&acked)).await
	}

	/// The checks the node makes alone: the receipt is this node's and its signature verifies,
	/// the acknowledgement is its client's, the client is not the operator, the receipt is of
	/// the current era (as last read).
	fn check(
		&self,
		receipt: &[u8],
		acknowledgement: &[u8],
	) -> Result<ChainAcknowledged, AckRefusal> {
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
		let per_point = self.fuel_per_point.load(Ordering::Relaxed);
		if r.fuel_used < per_point {
			return Err(AckRefusal::Worthless { fuel: r.fuel_used, per_point });
		}
		Ok(acked)
	}

	/// Whether `id` would be queued (a read transaction: duplicates and floods open no write
	/// transaction).
	fn room(&self, id: &AckId) -> Result<usize, AckRefusal> {
		let mut room = Err(AckRefusal::Full);
		self.outbox.read(|txn| {
			room = has_room(&txn.open_table(ACKS)?, &txn.open_table(ACK_IDS)?, id)?;
			Ok(())
		})?;
		room
	}

	/// Stores `acked` if there is room for it (checked again in the write transaction); how
	/// many are queued.
	fn insert(&self, acked: &ChainAcknowledged) -> Result<usize, AckRefusal> {
		let id = AckId::of(&acked.signed);
		let (order, key, value) = (id.order(), id.id(), acked.encode());
		let mut queued = Err(AckRefusal::Full);
		self.outbox.write(|txn| {
			// Read in the write transaction: a new era's pruning (a write too) comes before
			// or after this one, never between the check and the insert.
			let era_start = self.era_start.load(Ordering::Relaxed);
			if id.block < era_start {
				queued = Err(AckRefusal::Stale { block: id.block, era_start });
				return Ok(());
			}
			let mut ids = txn.open_table(ACK_IDS)?;
			let mut acks = txn.open_table(ACKS)?;
			queued = has_room(&acks, &ids, &id)?;
			if let Ok(len) = &mut queued {
				ids.insert(key.as_slice(), id.block)?;
				acks.insert(order.as_slice(), value.as_slice())?;
				*len += 1;
			}
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

	/// Removes every receipt of a block before `block` (none: every receipt), in one write
	/// transaction; how many.
	fn remove_before(&self, block: Option<u32>) -> Result<usize, OutboxError> {
		let bound = block.map(u32::to_be_bytes);
		let mut removed = 0;
		self.outbox.write(|txn| {
			let mut acks = txn.open_table(ACKS)?;
			let mut ids = txn.open_table(ACK_IDS)?;
			let mut gone = Vec::new();
			let range = match &bound {
				Some(bound) => acks.range::<&[u8]>(..bound.as_slice())?,
				None => acks.iter()?,
			};
			for item in range {
				gone.push(item?.0.value().to_vec());
			}
			for key in &gone {
				acks.remove(key.as_slice())?;
				if let Some(id) = AckId::from_order(key) {
					ids.remove(id.id().as_slice())?;
				}
			}
			removed = gone.len();
			Ok(())
		})?;
		Ok(removed)
	}

	/// The queued entries of `ids`, in queue order (those still queued).
	fn entries(
		&self,
		ids: &BTreeSet<AckId>,
	) -> Result<Vec<(AckId, ChainAcknowledged)>, OutboxError> {
		let raw: Vec<(AckId, Vec<u8>)> = self.outbox.read(|txn| {
			let acks = txn.open_table(ACKS)?;
			let mut raw = Vec::new();
			for id in ids {
				if let Some(value) = acks.get(id.order().as_slice())? {
					raw.push((*id, value.value().to_vec()));
				}
			}
			Ok(raw)
		})?;
		Ok(raw
			.into_iter()
			.filter_map(|(id, value)| {
				ChainAcknowledged::decode_all(&mut &value[..]).ok().map(|acked| (id, acked))
			})
			.collect())
	}

	/// The next batch, read against the latest finalized block of `client`, for a node whose
	/// receipts count in full from block `active_since` (`u32::MAX` on probation): what the
	/// chain would refuse or not count is dropped from the queue first (the module docs list
	/// why).
	pub async fn prepare(
		&self,
		client: &ChainClient,
		active_since: u32,
	) -> Result<Prepared, ChainError> {
		let url = client.url.as_str();
		let at = finalized(client).await?;
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
		// A runtime with a smaller batch would not even decode a longer one.
		let most = BATCH.min(constant(&at, url, "Rewards.MaxBatch")? as usize).max(1);
		let mut prepared = Prepared::default();
		prepared.drop("stale", self.era_began(era_start)?);
		let node_counted = points.as_ref().map_or(0, |p| p.receipts);
		// What the era and the node still count: the receipts of a longer batch count nothing.
		let room = params
			.max_receipts
			.saturating_sub(era_receipts)
			.min(params.node_receipts.saturating_sub(node_counted)) as usize;
		if room == 0 || points.as_ref().is_some_and(|p| p.forfeited) {
			prepared.drop("full", self.remove_before(None)?);
			return Ok(prepared);
		}
		// After a refused batch, its receipts go first, a few at a time.
		let (suspects, size) = {
			let probe = self.probe.lock().unwrap_or_else(|e| e.into_inner());
			(probe.suspects.clone(), probe.size)
		};
		let mut candidates =
			if suspects.is_empty() { Vec::new() } else { self.entries(&suspects)? };
		let limit = if candidates.is_empty() {
			*self.probe.lock().unwrap_or_else(|e| e.into_inner()) = Probe::default();
			most
		} else {
			size.clamp(1, most)
		}
		.min(room);
		// A short batch of suspects is topped up with the oldest others.
		let others = self.oldest(INSPECT)?;
		candidates.extend(others.into_iter().filter(|(id, _)| !suspects.contains(id)));
		// Each client's work points with the node so far this era, with what this batch adds.
		let mut work: HashMap<AccountId32, u32> = HashMap::new();
		let mut accounts: HashMap<AccountId32, bool> = HashMap::new();
		let mut releases: BTreeMap<ContentId, Option<(bool, Option<u32>)>> = BTreeMap::new();
		let mut dropped = Vec::new();
		for (id, acked) in candidates {
			if prepared.batch.len() >= limit {
				break;
			}
			let r = &acked.signed.receipt;
			if r.block > now {
				// Not yet final where this reads (a receipt names a finalized block).
				continue;
			}
			if r.block < era_start {
				// Queued while the era turned.
				prepared.drop("stale", 1);
				dropped.push(id);
				continue;
			}
			if !releases.contains_key(&r.cid) {
				let ran: Option<(Vec<u8>, u32)> =
					by_key(&at, url, "Actors.EverRan", r.cid.clone()).await?;
				let revoked: Option<u32> =
					by_key(&at, url, "Actors.RevokedAt", r.cid.clone()).await?;
				let named =
					ran.map(|(actor, version)| (actor, version) == (r.actor.to_vec(), r.version));
				releases.insert(r.cid.clone(), named.map(|named| (named, revoked)));
			}
			let release = releases.get(&r.cid).copied().flatten();
			let why = if !keys.contains(&r.key) {
				Some("key_not_bound")
			} else if !release.is_some_and(|(named, _)| named) {
				Some("unknown_release")
			} else if release.is_some_and(|(_, revoked)| revoked.is_some_and(|at| at <= r.block)) {
				Some("revoked_release")
			} else if exists(
				&at,
				url,
				"Rewards.Seen",
				(Static(era), Static(pallet_tea_rewards::seen_key(&node, &r.client, r.nonce))),
			)
			.await?
			{
				Some("counted")
			} else if !match accounts.get(&r.client) {
				Some(known) => *known,
				None => {
					let known =
						exists(&at, url, "System.Account", (Static(r.client.clone()),)).await?;
					accounts.insert(r.client.clone(), known);
					known
				}
			} {
				Some("unknown_client")
			} else {
				let so_far = match work.get(&r.client) {
					Some(so_far) => *so_far,
					None => {
						by_three_keys(&at, url, "Rewards.ClientWork", (era, node, r.client.clone()))
							.await?
							.unwrap_or(0)
					}
				};
				let (added, worth) = pallet_tea_rewards::receipt_points(
					&params,
					r.fuel_used,
					so_far,
					r.block < active_since,
				);
				// As the pallet: what is worth nothing adds nothing to the client's count.
				let so_far = if worth == 0 { so_far } else { so_far.saturating_add(added) };
				work.insert(r.client.clone(), so_far);
				(worth == 0).then_some("worthless")
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
	/// refused for one of its receipts (`pallet_tea_rewards::RECEIPT_ERRORS`), a lone receipt
	/// is dropped, and the receipts of a longer batch go first, in batches half as long, until
	/// each settled. Anything else (the node's or the era's error, a timeout, a lapse) keeps
	/// them queued and comes back as the error.
	pub fn settle(
		&self,
		ids: &[AckId],
		result: Result<Finalized, ChainError>,
	) -> Result<Settled, ChainError> {
		let mut probe = self.probe.lock().unwrap_or_else(|e| e.into_inner());
		match result {
			Ok(done) => {
				self.remove(ids)?;
				for id in ids {
					probe.suspects.remove(id);
				}
				// Batches grow back as they land.
				probe.size = probe.size.saturating_mul(2).clamp(1, BATCH);
				Ok(Settled::Counted { events: done.events })
			}
			Err(ChainError::Dispatch { pallet, error, what })
				if pallet == "Rewards"
					&& pallet_tea_rewards::RECEIPT_ERRORS.contains(&error.as_str()) =>
			{
				if let [id] = ids {
					tracing::warn!(target: LOG_TARGET, ?id, %pallet, %error, "the chain refused an acknowledged receipt: dropped");
					self.remove(ids)?;
					probe.suspects.remove(id);
					// Found: the others go in full batches again (halved anew if one more is bad).
					probe.size = BATCH;
					return Ok(Settled::Refused { error: format!("{pallet}.{error}") });
				}
				probe.suspects.extend(ids.iter().copied());
				probe.size = (ids.len() / 2).max(1);
				Err(ChainError::Dispatch { pallet, error, what })
			}
			Err(e) => Err(e),
		}
	}
}

/// Whether `id` has room in `acks` (and its `ids`): not queued already, the client under its
/// quota, the queue not full; how many are queued.
fn has_room(
	acks: &impl ReadableTableMetadata,
	ids: &impl ReadableTable<&'static [u8], u32>,
	id: &AckId,
) -> Result<Result<usize, AckRefusal>, redb::Error> {
	if ids.get(id.id().as_slice())?.is_some() {
		return Ok(Err(AckRefusal::Duplicate(id.nonce)));
	}
	let (first, last) = (AckId::client_key(&id.client, 0), AckId::client_key(&id.client, u64::MAX));
	if ids.range::<&[u8]>(first.as_slice()..=last.as_slice())?.take(PER_CLIENT).count()
		>= PER_CLIENT
	{
		return Ok(Err(AckRefusal::ClientFull));
	}
	let len = acks.len()? as usize;
	if len >= MAX_QUEUED {
		return Ok(Err(AckRefusal::Full));
	}
	Ok(Ok(len))
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

	/// What `offer` does without its chain read (the client exists).
	fn offer(q: &AckQueue, receipt: &[u8], acknowledgement: &[u8]) -> Result<usize, AckRefusal> {
		let acked = q.check(receipt, acknowledgement)?;
		q.room(&AckId::of(&acked.signed))?;
		q.insert(&acked)
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
			assert_eq!(offer(&q, &late, &ack(&eve, &late)).unwrap(), 1);
			let early = receipt(&key, &ferdie, 1, 12);
			assert_eq!(offer(&q, &early, &ack(&ferdie, &early)).unwrap(), 2);
			// The same client and nonce again, even in another receipt: once.
			let again = receipt(&key, &eve, 1, 31);
			let err = offer(&q, &again, &ack(&eve, &again)).unwrap_err();
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
		assert_eq!(offer(&q, &early, &ack(&ferdie, &early)).unwrap(), 2);
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
		let kind = |receipt: &[u8], ack: &[u8]| offer(&q, receipt, ack).unwrap_err().kind();

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
		let err = offer(&q, &good, &ack(&eve, &good)).unwrap_err();
		assert!(matches!(err, AckRefusal::Stale { block: 40, era_start: 41 }), "{err}");

		assert_eq!(kind(&good[1..], &ack(&eve, &good)), "bad_request");
		assert_eq!(kind(&good, &[0xff]), "bad_request");
		assert!(q.is_empty().unwrap());

		q.era_start.store(40, Ordering::Relaxed);
		assert_eq!(offer(&q, &good, &ack(&eve, &good)).unwrap(), 1);
	}

	fn refused(error: &str) -> ChainError {
		ChainError::Dispatch {
			what: "rewards.submitReceipts",
			pallet: "Rewards".into(),
			error: error.into(),
		}
	}

	fn suspects(q: &AckQueue) -> Vec<AckId> {
		q.probe.lock().unwrap().suspects.iter().copied().collect()
	}

	#[test]
	fn a_refused_batch_is_searched_in_halves_until_all_settled_and_only_receipt_errors_drop_one() {
		let (q, key, eve) = fresh();
		let mut ids = Vec::new();
		for nonce in 0..3 {
			let r = receipt(&key, &eve, nonce, 50 + nonce as u32);
			offer(&q, &r, &ack(&eve, &r)).unwrap();
			ids.push(AckId::of(&ChainSignedReceipt::decode_all(&mut &r[..]).unwrap()));
		}
		// A batch of three refused: kept, and each is a suspect, sent first, one a batch.
		assert!(q.settle(&ids, Err(refused("UnknownRelease"))).is_err());
		assert_eq!(q.len().unwrap(), 3);
		assert_eq!(suspects(&q), ids);
		let size = |q: &AckQueue| q.probe.lock().unwrap().size;
		assert_eq!(size(&q), 1, "half of 3");
		// One lands: it leaves the queue, and batches grow back.
		let done = || Finalized {
			block: H256::zero(),
			events: vec!["Rewards.ReceiptsCounted".into()],
			detail: Vec::new(),
		};
		assert_eq!(
			q.settle(&ids[1..2], Ok(done())).unwrap(),
			Settled::Counted { events: vec!["Rewards.ReceiptsCounted".into()] }
		);
		assert_eq!((suspects(&q), size(&q)), (vec![ids[0], ids[2]], 2));
		// One alone refused for its own sake: dropped with the chain's reason; found, the
		// others go in full batches.
		assert_eq!(
			q.settle(&ids[..1], Err(refused("UnknownRelease"))).unwrap(),
			Settled::Refused { error: "Rewards.UnknownRelease".into() }
		);
		assert_eq!((suspects(&q), size(&q)), (vec![ids[2]], BATCH));
		assert_eq!(q.len().unwrap(), 1);
		// Refused for the node's or the era's sake, or timed out: kept, nothing more suspect.
		for error in ["NotServing", "NotOperator", "UnknownNode", "EraFull", "NodeFull"] {
			assert!(q.settle(&ids[2..], Err(refused(error))).is_err(), "{error}");
		}
		let other = ChainError::Dispatch {
			what: "rewards.submitReceipts",
			pallet: "System".into(),
			error: "CallFiltered".into(),
		};
		assert!(q.settle(&ids[2..], Err(other)).is_err());
		let timeout = ChainError::Timeout { url: "ws://x".into(), secs: 60 };
		assert!(q.settle(&ids[2..], Err(timeout)).is_err());
		assert_eq!((suspects(&q), q.len().unwrap()), (vec![ids[2]], 1));
		q.settle(&ids[2..], Ok(done())).unwrap();
		assert!(suspects(&q).is_empty() && q.is_empty().unwrap());
	}

	/// The duty's view of a new era drops the receipts of the ended one at once, and offers of
	/// them are refused.
	#[test]
	fn a_new_era_drops_the_receipts_of_the_ended_one() {
		let (q, key, eve) = fresh();
		for (nonce, block) in [(1, 5), (2, 19), (3, 20), (4, 33)] {
			let r = receipt(&key, &eve, nonce, block);
			offer(&q, &r, &ack(&eve, &r)).unwrap();
		}
		assert_eq!(q.era_began(20).unwrap(), 2);
		assert_eq!(q.era_began(20).unwrap(), 0, "once per era");
		assert_eq!(q.era_began(10).unwrap(), 0, "an older view changes nothing");
		assert_eq!(q.len().unwrap(), 2);
		let late = receipt(&key, &eve, 5, 19);
		assert_eq!(offer(&q, &late, &ack(&eve, &late)).unwrap_err().kind(), "stale");
		// Checked, then the era turns before it is stored (the client lookup waits on the
		// chain): refused when it is stored.
		let turning = receipt(&key, &eve, 6, 25);
		let acked = q.check(&turning, &ack(&eve, &turning)).unwrap();
		assert_eq!(q.era_began(30).unwrap(), 1);
		assert_eq!(q.insert(&acked).unwrap_err().kind(), "stale");
		assert_eq!(q.len().unwrap(), 1);
	}

	/// One client (or a few) cannot take the queue from the others.
	#[test]
	fn a_client_queues_at_most_its_quota() {
		let (q, key, eve) = fresh();
		let eve_id: [u8; 32] = eve.public().0;
		q.outbox
			.write(|txn| {
				let mut acks = txn.open_table(ACKS)?;
				let mut keys = txn.open_table(ACK_IDS)?;
				for nonce in 100..100 + PER_CLIENT as u64 {
					let id = AckId { block: 1, client: eve_id, nonce };
					acks.insert(id.order().as_slice(), &[0u8; 0][..])?;
					keys.insert(id.id().as_slice(), 1)?;
				}
				Ok(())
			})
			.unwrap();
		let r = receipt(&key, &eve, 1, 2);
		assert_eq!(offer(&q, &r, &ack(&eve, &r)).unwrap_err().kind(), "client_full");
		let ferdie = Sr25519Keyring::Ferdie.pair();
		let theirs = receipt(&key, &ferdie, 1, 2);
		assert_eq!(offer(&q, &theirs, &ack(&ferdie, &theirs)).unwrap(), PER_CLIENT + 1);
	}

	/// Accounts the chain has, as a view.
	struct Known(Vec<AccountId32>);

	impl Accounts for Known {
		fn exists(&self, who: AccountId32) -> futures::future::BoxFuture<'_, Result<bool, String>> {
			Box::pin(async move { Ok(self.0.contains(&who)) })
		}
	}

	/// Nothing is taken before the duty says the node serves, nor after it says it stopped;
	/// a client the chain does not have is refused.
	#[tokio::test]
	async fn offers_wait_for_a_serving_node_and_a_client_the_chain_has() {
		let (q, key, eve) = fresh();
		let q = Arc::new(q);
		let r = receipt(&key, &eve, 1, 30);
		let offer = || q.offer(r.clone(), ack(&eve, &r));
		assert_eq!(offer().await.unwrap_err().kind(), "not_serving");
		let chain = Arc::new(Known(vec![Sr25519Keyring::Ferdie.to_account_id()]));
		q.observe(chain.clone(), false, 20, 1).unwrap();
		assert_eq!(offer().await.unwrap_err().kind(), "not_serving");
		q.observe(chain, true, 20, 1).unwrap();
		assert_eq!(offer().await.unwrap_err().kind(), "unknown_client");
		// Remembered until the next block: not looked up again.
		let eve_known = Arc::new(Known(vec![Sr25519Keyring::Eve.to_account_id()]));
		*q.chain.write().unwrap() = Some(eve_known.clone());
		assert_eq!(offer().await.unwrap_err().kind(), "unknown_client");
		// A receipt under a work point's fuel earns nothing.
		q.observe(eve_known.clone(), true, 20, 5_001).unwrap();
		assert_eq!(offer().await.unwrap_err().kind(), "worthless");
		q.observe(eve_known, true, 20, 5_000).unwrap();
		assert_eq!(offer().await.unwrap(), 1);
		assert_eq!(offer().await.unwrap_err().kind(), "duplicate");
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
		assert_eq!(offer(&q, &r, &a).unwrap_err().kind(), "full");
	}
}
