//! Client tasks with proof-of-trust receipts: a client's signed [`TaskRequest`] runs through
//! the same [`Executor::run`] as every invocation, and the node signs a [`Receipt`] of it with
//! its receipt key (`tea_primitives::receipt` says what that key is bound to and what a
//! receipt proves).
//!
//! [`ClientTasks::run`] refuses, each with its own [`Refusal`]:
//! - a request that does not decode, is signed by someone other than its client, or names
//!   another node, an input other than the one sent, or a validity this node does not
//!   remember nonces for;
//! - a request seen before (the same client and nonce, until its `valid_until`), or expired;
//! - a client over its rate, or more requests pending than the nonce memory holds;
//! - anything while this node's receipt key is not the one its latest accepted attestation
//!   bound, or while the node is not serving (a receipt would not verify);
//! - and what the executor refuses ([`TaskError`]).

use crate::{
	chain::receipts::NodeFacts,
	tasks::{Executor, Outcome, Target, TaskError},
};
use codec::DecodeAll;
use sp_core::{ed25519, Pair};
use sp_runtime::{AccountId32, MultiSignature};
use std::{
	collections::HashMap,
	sync::{Arc, Mutex},
	time::Instant,
};
use tea_primitives::receipt::{self, Receipt, Standing, TaskRequest, TaskTarget};

/// A request as the TEA runtime's types make it.
pub type ChainTaskRequest = TaskRequest<AccountId32, u32>;
/// A receipt as the TEA runtime's types make it.
pub type ChainReceipt = Receipt<AccountId32, u32, sp_core::H256>;
/// A signed receipt as the TEA runtime's types make it.
pub type ChainSignedReceipt = receipt::SignedReceipt<AccountId32, u32, sp_core::H256>;

/// Most blocks ahead a request's `valid_until` may be: its nonce is remembered that long.
pub const MAX_VALIDITY: u32 = 600;
/// Most requests whose nonces are remembered at once.
pub const MAX_REMEMBERED: usize = 1 << 16;

/// The node's receipt key: made in memory when the daemon starts, never stored.
pub struct ReceiptKey(ed25519::Pair);

impl ReceiptKey {
	/// A new key.
	pub fn generate() -> Self {
		Self(ed25519::Pair::generate().0)
	}

	/// Its public key (what the event log binds).
	pub fn public(&self) -> [u8; 32] {
		self.0.public().0
	}

	/// Signs `receipt` (whose `key` is this key's public key).
	pub fn sign(&self, receipt: ChainReceipt) -> ChainSignedReceipt {
		receipt.sign(&self.0)
	}
}

/// Why a client task was refused. [`Refusal::kind`] is what the client sees as `error`.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
	/// The request or signature does not decode.
	#[error("the request does not decode: {0}")]
	Malformed(String),
	/// The signature is not the client's over the request.
	#[error("the signature is not the client's over this request (sign b\"tea/task/v1\" ‖ the SCALE request)")]
	BadSignature,
	/// The request names another node.
	#[error("the request is for node {0}, not this one")]
	WrongNode(String),
	/// The input sent is not the one the request names.
	#[error("the input's SHA-256 is not the one the request names")]
	InputMismatch,
	/// The request expired.
	#[error("the request was valid until block {valid_until}; the chain is at {now}")]
	Expired {
		/// Its `valid_until`.
		valid_until: u32,
		/// This node's latest finalized block.
		now: u32,
	},
	/// The request is valid for longer than nonces are remembered.
	#[error("the request is valid until block {valid_until}: at most {MAX_VALIDITY} blocks after the chain's {now}")]
	TooLong {
		/// Its `valid_until`.
		valid_until: u32,
		/// This node's latest finalized block.
		now: u32,
	},
	/// The client's nonce was used before.
	#[error("nonce {0} of this client was already used")]
	Replayed(u64),
	/// The client is over its rate.
	#[error("over {0} tasks per second for this client")]
	RateLimited(u32),
	/// So many requests are remembered that another's nonce could not be.
	#[error("{MAX_REMEMBERED} requests are pending: try again in a few blocks")]
	Full,
	/// No receipt would verify: the key is not bound, or the node is not serving.
	#[error("{0}")]
	NotAttested(String),
	/// The executor refused or the actor failed.
	#[error(transparent)]
	Task(#[from] TaskError),
}

impl Refusal {
	/// A short, stable name of the refusal.
	pub fn kind(&self) -> &'static str {
		match self {
			Self::Malformed(_) => "bad_request",
			Self::BadSignature => "bad_signature",
			Self::WrongNode(_) => "wrong_node",
			Self::InputMismatch => "input_mismatch",
			Self::Expired { .. } => "expired",
			Self::TooLong { .. } => "too_long",
			Self::Replayed(_) => "replayed",
			Self::RateLimited(_) => "rate_limited",
			Self::Full => "full",
			Self::NotAttested(_) => "not_attested",
			Self::Task(e) => e.kind(),
		}
	}
}

/// A finished client task: the output and the signed receipt.
pub struct Done {
	/// The invocation.
	pub outcome: Outcome,
	/// The receipt.
	pub receipt: ChainSignedReceipt,
}

/// Per-client rate: a token bucket.
struct Bucket {
	tokens: f64,
	at: Instant,
}

/// Runs client tasks and signs their receipts.
pub struct ClientTasks {
	executor: Arc<Executor>,
	key: ReceiptKey,
	node: [u8; 32],
	/// Tasks per second per client (and the burst, twice that).
	rate: u32,
	/// `(client, nonce)` → its `valid_until`.
	seen: Mutex<HashMap<(AccountId32, u64), u32>>,
	buckets: Mutex<HashMap<AccountId32, Bucket>>,
}

impl ClientTasks {
	/// Client tasks of node `node` on `executor`, signed with `key`, at most `rate` per second
	/// per client.
	pub fn new(executor: Arc<Executor>, key: ReceiptKey, node: [u8; 32], rate: u32) -> Self {
		Self {
			executor,
			key,
			node,
			rate: rate.max(1),
			seen: Default::default(),
			buckets: Default::default(),
		}
	}

	/// The node these tasks run on.
	pub fn node(&self) -> [u8; 32] {
		self.node
	}

	/// The receipt key's public key.
	pub fn key(&self) -> [u8; 32] {
		self.key.public()
	}

	/// The executor.
	pub fn executor(&self) -> &Executor {
		&self.executor
	}

	/// Runs the SCALE-encoded `request` signed with `signature` (a SCALE `MultiSignature`) on
	/// `input`, judged at the latest finalized block this node read.
	pub async fn run(
		&self,
		request: &[u8],
		signature: &[u8],
		input: Vec<u8>,
	) -> Result<Done, Refusal> {
		let malformed = |what: &str, e: codec::Error| Refusal::Malformed(format!("{what}: {e}"));
		let request = ChainTaskRequest::decode_all(&mut &request[..])
			.map_err(|e| malformed("the task request", e))?;
		let signature = MultiSignature::decode_all(&mut &signature[..])
			.map_err(|e| malformed("the signature", e))?;
		if request.node != self.node {
			return Err(Refusal::WrongNode(crate::hex0x(&request.node)));
		}
		if receipt::sha256(&input) != request.input {
			return Err(Refusal::InputMismatch);
		}
		if !request.verify(&signature) {
			return Err(Refusal::BadSignature);
		}
		let now = self.executor.current_block();
		if request.valid_until < now {
			return Err(Refusal::Expired { valid_until: request.valid_until, now });
		}
		if request.valid_until > now.saturating_add(MAX_VALIDITY) {
			return Err(Refusal::TooLong { valid_until: request.valid_until, now });
		}
		self.take_token(&request.client)?;
		self.remember(&request, now)?;
		let target = match &request.target {
			TaskTarget::Actor(name) => Target::Actor(String::from_utf8_lossy(name).into_owned()),
			TaskTarget::Release(cid) => Target::Release(cid.clone()),
		};
		// A receipt must verify at the block it names: the key bound, the node serving (asked
		// before the run, and of the block the run's grants came from after it).
		self.attested(self.executor.node_facts().unwrap_or_default(), now)?;
		let outcome = self.executor.run(target, input).await?;
		let attestation = self.attested(outcome.node.unwrap_or_default(), outcome.block)?;
		let actor = outcome.actor.as_bytes().to_vec().try_into().map_err(|_| {
			Refusal::Malformed("the actor's name is longer than a chain name".into())
		})?;
		let receipt = Receipt {
			node: self.node,
			actor,
			version: outcome.version,
			cid: outcome.cid.clone(),
			input: request.input,
			output: receipt::sha256(&outcome.output),
			fuel_used: outcome.fuel_used,
			client: request.client,
			nonce: request.nonce,
			block: outcome.block,
			block_hash: outcome.hash,
			attestation,
			key: self.key(),
		};
		Ok(Done { receipt: self.key.sign(receipt), outcome })
	}

	/// The block of the node's latest accepted attestation if a receipt at `block` with these
	/// facts would verify.
	fn attested(&self, node: NodeFacts, block: u32) -> Result<u32, Refusal> {
		if node.standing != Standing::Serving {
			return Err(Refusal::NotAttested(format!(
				"this node is not serving at block {} (not registered, a candidate, quarantined or exiting): a receipt would not verify",
				block
			)));
		}
		match (node.last_valid, node.receipt_key == Some(self.key())) {
			(Some(attestation), true) => Ok(attestation),
			_ => Err(Refusal::NotAttested(format!(
				"this node's receipt key is not in its latest accepted attestation at block {block} yet (its next quote carries it)"
			))),
		}
	}

	fn take_token(&self, client: &AccountId32) -> Result<(), Refusal> {
		let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
		let now = Instant::now();
		let (rate, burst) = (self.rate as f64, 2.0 * self.rate as f64);
		if buckets.len() >= MAX_REMEMBERED {
			// Forget the clients whose buckets refilled: they are where a new one starts.
			buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
		}
		let bucket = buckets.entry(client.clone()).or_insert(Bucket { tokens: burst, at: now });
		bucket.tokens =
			(bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(burst);
		bucket.at = now;
		if bucket.tokens < 1.0 {
			return Err(Refusal::RateLimited(self.rate));
		}
		bucket.tokens -= 1.0;
		Ok(())
	}

	fn remember(&self, request: &ChainTaskRequest, now: u32) -> Result<(), Refusal> {
		let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
		let key = (request.client.clone(), request.nonce);
		if seen.get(&key).is_some_and(|until| *until >= now) {
			return Err(Refusal::Replayed(request.nonce));
		}
		if seen.len() >= MAX_REMEMBERED {
			seen.retain(|_, until| *until >= now);
			if seen.len() >= MAX_REMEMBERED {
				return Err(Refusal::Full);
			}
		}
		seen.insert(key, request.valid_until);
		Ok(())
	}
}

/// Why a receipt does not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
	/// The receipt fails a check (the reason says which).
	#[error("the receipt does not verify: {0:?} ({reason})", reason = .0.reason())]
	Receipt(receipt::ReceiptError),
	/// The receipt is not a receipt.
	#[error("not a receipt: {0}")]
	Malformed(String),
	/// The chain could not be asked.
	#[error(transparent)]
	Chain(#[from] crate::chain::receipts::BlockError),
}

/// Decodes a SCALE [`ChainSignedReceipt`] (`0x` hex allowed).
pub fn decode_receipt(text: &str) -> Result<ChainSignedReceipt, VerifyError> {
	let bytes =
		crate::unhex0x(text.trim()).map_err(|e| VerifyError::Malformed(format!("not hex: {e}")))?;
	ChainSignedReceipt::decode_all(&mut &bytes[..])
		.map_err(|e| VerifyError::Malformed(format!("not a SCALE SignedReceipt: {e}")))
}

/// Verifies `signed`: offline (the signature; `input` and `output` against their hashes, when
/// given), then against the chain at the receipt's block.
pub async fn verify(
	client: &crate::chain::ChainClient,
	signed: &ChainSignedReceipt,
	input: Option<&[u8]>,
	output: Option<&[u8]>,
) -> Result<(), VerifyError> {
	let r = &signed.receipt;
	signed.verify_offline(input, output).map_err(VerifyError::Receipt)?;
	let facts =
		crate::chain::receipts::chain_facts(client, r.block_hash, sp_core::H256(r.node), &r.cid)
			.await?;
	r.check_chain(&facts).map_err(VerifyError::Receipt)
}

/// What [`run_remote`] got: the output and the worker's answer (the receipt in it).
pub struct RemoteRun {
	/// The output bytes.
	pub output: Vec<u8>,
	/// The receipt.
	pub receipt: ChainSignedReceipt,
	/// The worker's whole JSON answer.
	pub answer: serde_json::Value,
}

/// Asks the worker whose client task API is at `worker` to run `target` on `input` for the
/// client `pair` (valid for `valid_for` blocks), and returns its answer; the caller verifies
/// the receipt.
pub async fn run_remote(
	worker: &str,
	pair: &sp_core::sr25519::Pair,
	target: TaskTarget,
	input: &[u8],
	valid_for: u32,
	timeout: std::time::Duration,
) -> Result<RemoteRun, String> {
	use hyper::{Method, StatusCode};
	let (status, node) =
		crate::http::call_json(worker, Method::GET, "/v1/node", None, timeout).await?;
	if status != StatusCode::OK {
		return Err(format!("{worker}/v1/node answered HTTP {status}: {node}"));
	}
	let hex_of = |value: &serde_json::Value, name: &str| -> Result<Vec<u8>, String> {
		let text = value.get(name).and_then(|v| v.as_str()).unwrap_or_default();
		crate::unhex0x(text).map_err(|e| format!("`{name}` of the answer: {e}"))
	};
	let node_id: [u8; 32] = hex_of(&node, "nodeId")?
		.try_into()
		.map_err(|_| "the worker's nodeId is not 32 bytes".to_owned())?;
	let block = node.get("block").and_then(|b| b.as_u64()).unwrap_or(0) as u32;
	let mut nonce = [0u8; 8];
	getrandom::getrandom(&mut nonce).map_err(|e| format!("no randomness for a nonce: {e}"))?;
	let request = ChainTaskRequest {
		node: node_id,
		target,
		input: receipt::sha256(input),
		client: pair.public().into(),
		nonce: u64::from_le_bytes(nonce),
		valid_until: block.saturating_add(valid_for),
	};
	let signature = MultiSignature::from(pair.sign(&request.signing_payload()));
	let body = serde_json::json!({
		"request": crate::hex0x(&codec::Encode::encode(&request)),
		"signature": crate::hex0x(&codec::Encode::encode(&signature)),
		"input": crate::hex0x(input),
	});
	let (status, answer) =
		crate::http::call_json(worker, Method::POST, "/v1/tasks", Some(&body), timeout).await?;
	if status != StatusCode::OK {
		return Err(refusal("the task", status, &answer));
	}
	let output = hex_of(&answer, "output")?;
	let receipt = decode_receipt(answer.get("receipt").and_then(|v| v.as_str()).unwrap_or(""))
		.map_err(|e| e.to_string())?;
	Ok(RemoteRun { output, receipt, answer })
}

/// Acknowledges `receipt` for the client `pair` on the worker whose client task API is at
/// `worker` (`POST /v1/acks`): the client accepted it, and the worker sends it on chain, where
/// it earns work points. Returns the worker's answer (`{"queued"}`).
pub async fn acknowledge_remote(
	worker: &str,
	pair: &sp_core::sr25519::Pair,
	receipt: &ChainSignedReceipt,
	timeout: std::time::Duration,
) -> Result<serde_json::Value, String> {
	use hyper::{Method, StatusCode};
	let acknowledgement = MultiSignature::from(pair.sign(&receipt.acknowledgement_payload()[..]));
	let body = serde_json::json!({
		"receipt": crate::hex0x(&codec::Encode::encode(receipt)),
		"acknowledgement": crate::hex0x(&codec::Encode::encode(&acknowledgement)),
	});
	let (status, answer) =
		crate::http::call_json(worker, Method::POST, "/v1/acks", Some(&body), timeout).await?;
	if status != StatusCode::ACCEPTED {
		return Err(refusal("the acknowledgement", status, &answer));
	}
	Ok(answer)
}

/// A worker's typed refusal `answer` (`{"error", "reason"}`) of `what`, as one message.
fn refusal(what: &str, status: hyper::StatusCode, answer: &serde_json::Value) -> String {
	let kind = answer.get("error").and_then(|v| v.as_str()).unwrap_or("?");
	let reason = answer.get("reason").and_then(|v| v.as_str()).unwrap_or("");
	format!("the worker refused {what} (HTTP {status}, {kind}): {reason}")
}
