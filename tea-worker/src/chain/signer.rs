//! The operator's one signer: every extrinsic the worker sends goes through [`Signer`], which
//! allocates nonces in one place, stores every signed extrinsic in the persisted
//! [`Outbox`] before it reaches a pool, bounds every submission in time and follows it until
//! the chain settles it.

use super::{
	outbox::{standing, Entry, Key, Outbox, Standing},
	request_error, ChainClient, ChainError, LOG_TARGET,
};
use sp_core::H256;
use std::{sync::Arc, time::Duration};
use subxt_signer::sr25519;

/// How long a submission may take from signing to finalization.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Blocks an extrinsic stays valid for after the finalized block it was signed at (its
/// mortality): an outbox entry the chain did not include by then is settled as lapsed. Its
/// signature is valid in blocks `birth + 1 ..= birth + MORTALITY - 1`, so nothing is signed
/// while finality lags by half of it or more (it could lapse before it is sent).
pub const MORTALITY: u32 = 64;

/// A finalized, successful extrinsic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finalized {
	/// The block it was finalized in.
	pub block: H256,
	/// Its events as `Pallet.Event`.
	pub events: Vec<String>,
	/// The detail its submitter stored with it (a resumed submission reports its own).
	pub detail: Vec<u8>,
}

/// Signs with the node operator's key; the only holder of that key in the worker.
pub struct Signer {
	key: sr25519::Keypair,
	/// The next nonce this signer will use, once known.
	next: tokio::sync::Mutex<Option<u64>>,
	timeout: Duration,
	outbox: Arc<Outbox>,
}

impl Signer {
	/// A signer for `key`, each submission bounded by `timeout` and stored in `outbox` until
	/// the chain settles it.
	pub fn new(key: sr25519::Keypair, timeout: Duration, outbox: Arc<Outbox>) -> Self {
		Self { key, next: tokio::sync::Mutex::new(None), timeout, outbox }
	}

	/// Forgets the nonce this signer handed out last: after a reconnect (perhaps to another
	/// node) the pool's count is the truth.
	pub async fn reset(&self) {
		*self.next.lock().await = None;
	}

	/// The operator's account.
	pub fn account(&self) -> subxt::utils::AccountId32 {
		self.key.public_key().into()
	}

	/// The outbox this signer stores its submissions in.
	pub fn outbox(&self) -> &Outbox {
		&self.outbox
	}

	/// The submission stored under `key`, if the chain has not settled it yet.
	pub fn pending(&self, key: &Key) -> Result<Option<Entry>, ChainError> {
		Ok(self.outbox.get(key)?)
	}

	/// Signs `call`, stores it in the outbox under `key` with `detail`, submits it through
	/// `client` and waits until it is finalized and succeeded. While an earlier submission
	/// under `key` is stored, that one is followed (sent again as it was) instead: one
	/// submission per key at a time. Submissions from several tasks are signed one after the
	/// other with consecutive nonces and then followed concurrently. A block that is retracted
	/// is waited out (the node puts its extrinsics back into the pool); a dispatch error comes
	/// back as [`ChainError::Dispatch`] with the pallet's error name. On a timeout or a lost
	/// connection the entry stays stored, to be resumed.
	pub async fn submit<Call: subxt::transactions::Payload>(
		&self,
		client: &ChainClient,
		key: Key,
		call: &Call,
		what: &'static str,
		detail: Vec<u8>,
	) -> Result<Finalized, ChainError> {
		self.bounded(client, what, async {
			let entry = self.sign(client, &key, call, what, detail).await?;
			self.follow(client, &key, &entry, what).await
		})
		.await
	}

	/// Follows the submission stored under `key` (sent again as it was) until the chain settles
	/// it, as [`Signer::submit`] does.
	pub async fn resume(
		&self,
		client: &ChainClient,
		key: Key,
		what: &'static str,
	) -> Result<Finalized, ChainError> {
		self.bounded(client, what, async {
			let entry = self.outbox.get(&key)?.ok_or_else(|| ChainError::Request {
				url: client.url.clone(),
				what,
				reason: format!("nothing stored under {key:?}"),
			})?;
			tracing::info!(target: LOG_TARGET, what, ?key, nonce = entry.nonce, "resuming a stored submission");
			self.follow(client, &key, &entry, what).await
		})
		.await
	}

	/// Runs `submission` under this signer's timeout, counted in the metrics.
	async fn bounded(
		&self,
		client: &ChainClient,
		what: &'static str,
		submission: impl std::future::Future<Output = Result<Finalized, ChainError>>,
	) -> Result<Finalized, ChainError> {
		/// Counts the submission out however it ends, dropped futures included.
		struct InFlight;
		impl Drop for InFlight {
			fn drop(&mut self) {
				crate::metrics::in_flight(-1);
			}
		}
		crate::metrics::in_flight(1);
		let _in_flight = InFlight;
		let result = tokio::time::timeout(self.timeout, submission).await.unwrap_or_else(|_| {
			Err(ChainError::Request {
				url: client.url.clone(),
				what,
				reason: format!("not finalized within {} s", self.timeout.as_secs()),
			})
		});
		crate::metrics::submission(
			what,
			match &result {
				Ok(_) => "finalized",
				Err(ChainError::Lapsed { .. }) => "lapsed",
				Err(_) => "failed",
			},
		);
		if result.is_err() {
			// Whatever happened, ask the pool again next time.
			*self.next.lock().await = None;
		}
		result
	}

	/// Signs `call` with the next nonce and stores it under `key` before any pool sees it; the
	/// entry already stored under `key` instead, if there is one (checked under the nonce lock,
	/// so two callers never both sign for one key).
	async fn sign<Call: subxt::transactions::Payload>(
		&self,
		client: &ChainClient,
		key: &Key,
		call: &Call,
		what: &'static str,
		detail: Vec<u8>,
	) -> Result<Entry, ChainError> {
		let url = client.url.as_str();
		let fail = |e: &dyn std::error::Error| request_error(url, what, e);
		let mut next = self.next.lock().await;
		if let Some(entry) = self.outbox.get(key)? {
			tracing::info!(target: LOG_TARGET, what, ?key, nonce = entry.nonce, "an earlier submission is still open: following it instead");
			return Ok(entry);
		}
		// The pool-aware nonce: it counts this account's extrinsics still in the pool; a
		// nonce this signer handed out itself may be ahead of what the pool shows yet, and so
		// may a stored one not sent again yet (after a restart or a reconnect).
		let pool =
			client.rpc.system_account_next_index(&self.account()).await.map_err(|e| fail(&e))?;
		let stored = self
			.outbox
			.entries()?
			.iter()
			.map(|(_, e)| e.nonce)
			.filter(|n| *n >= pool)
			.max()
			.map(|n| n + 1);
		let nonce = next.map_or(pool, |n| n.max(pool)).max(stored.unwrap_or(0));
		let at = client.api.at_current_block().await.map_err(|e| fail(&e))?;
		let birth = at.block_number() as u32;
		let lag = super::finality_lag(client, u64::from(birth)).await?;
		if lag >= u64::from(MORTALITY / 2) {
			return Err(ChainError::Request {
				url: url.to_string(),
				what,
				reason: format!(
					"finality lags {lag} blocks behind the best block: not signing (an extrinsic \
					 lives {MORTALITY} blocks from the finalized one)"
				),
			});
		}
		let params = subxt::config::DefaultExtrinsicParamsBuilder::<subxt::SubstrateConfig>::new()
			.nonce(nonce)
			.mortal(u64::from(MORTALITY))
			.build();
		let signed =
			at.transactions().create_signed(call, &self.key, params).await.map_err(|e| fail(&e))?;
		let entry = Entry {
			what: what.to_string(),
			nonce,
			birth,
			expires: birth.saturating_add(MORTALITY),
			extrinsic: signed.encoded().to_vec(),
			detail,
		};
		self.outbox.put(key, &entry)?;
		#[cfg(feature = "test-faults")]
		crash_after_store(what, signed.hash());
		*next = Some(nonce + 1);
		Ok(entry)
	}

	/// Sends the stored `entry` and follows it until it is finalized or the chain settles it
	/// otherwise; the entry is removed once settled.
	async fn follow(
		&self,
		client: &ChainClient,
		key: &Key,
		entry: &Entry,
		what: &'static str,
	) -> Result<Finalized, ChainError> {
		use subxt::transactions::TransactionStatus;
		let url = client.url.as_str();
		let fail = |e: &dyn std::error::Error| request_error(url, what, e);
		let at = client.api.at_current_block().await.map_err(|e| fail(&e))?;
		let tx = at.transactions().from_bytes(entry.extrinsic.clone());
		let hash = tx.hash();
		match tx.submit_and_watch().await {
			Ok(mut progress) => {
				emit_submitted(what, key, entry, hash);
				while let Some(status) = progress.next().await {
					match status {
						Ok(TransactionStatus::InFinalizedBlock(included)) => {
							let block = included.block_hash();
							let events = included.fetch_events().await.map_err(|e| fail(&e))?;
							let at = client.api.at_block(block).await.map_err(|e| fail(&e))?;
							let outcome = outcome(url, what, &at, &events, entry);
							self.outbox.remove(key)?;
							return outcome;
						}
						Ok(TransactionStatus::NoLongerInBestBlock) => {
							tracing::info!(target: LOG_TARGET, what, "block retracted; waiting for the extrinsic to be included again");
						}
						Ok(
							TransactionStatus::Error { message }
							| TransactionStatus::Invalid { message }
							| TransactionStatus::Dropped { message },
						) => {
							tracing::info!(target: LOG_TARGET, what, %message, "the pool let the extrinsic go; asking the chain");
							break;
						}
						Ok(_) => continue,
						Err(e) => {
							tracing::info!(target: LOG_TARGET, what, error = %e, "status stream failed; asking the chain");
							break;
						}
					}
				}
			}
			// Already in the pool (a restart), banned as just included, stale, …: the chain
			// says what became of it.
			Err(e) => {
				tracing::info!(target: LOG_TARGET, what, reason = %super::root_cause(&e), "not taken as new; asking the chain");
			}
		}
		self.settle(client, key, entry, hash, what).await
	}

	/// Waits, block by block, until the chain settles `entry`: finalized (its outcome is read
	/// from its block), its nonce used by another extrinsic, or its mortality passed.
	async fn settle(
		&self,
		client: &ChainClient,
		key: &Key,
		entry: &Entry,
		hash: H256,
		what: &'static str,
	) -> Result<Finalized, ChainError> {
		let url = client.url.as_str();
		let fail = |e: &dyn std::error::Error| request_error(url, what, e);
		let mut blocks = client.finalized_blocks().await?;
		loop {
			let at = client.api.at_current_block().await.map_err(|e| fail(&e))?;
			let nonce =
				at.transactions().account_nonce(&self.account()).await.map_err(|e| fail(&e))?;
			let finalized = at.block_number() as u32;
			let lapsed = |reason: &str| ChainError::Lapsed { what, reason: reason.to_string() };
			match standing(entry, nonce, finalized) {
				Standing::Open => {
					client.next_finalized(&mut blocks).await?;
				}
				Standing::Expired => {
					self.outbox.remove(key)?;
					return Err(lapsed("its mortality ended before any block included it"));
				}
				Standing::NoncePassed => {
					let found = match find(client, entry, hash, finalized, what).await {
						Ok(found) => found,
						// Its blocks' state may be pruned (a worker down for long): it was
						// included or replaced; the duties read the chain's state again.
						Err(e) => {
							tracing::warn!(target: LOG_TARGET, what, error = %e, "a settled extrinsic's block is not readable");
							Some(Err(lapsed(
								"its nonce was used, but its block can no longer be read: outcome unknown",
							)))
						}
					};
					self.outbox.remove(key)?;
					return found.unwrap_or_else(|| {
						Err(lapsed("another extrinsic of the operator took its nonce"))
					});
				}
			}
		}
	}
}

/// Test-only fault (feature `test-faults`, never in a release build): with
/// `TEA_FAULT_CRASH_AFTER_STORE=<call>` the process dies the moment an extrinsic of that call is
/// stored in the outbox, before any pool sees it (after printing `{"stored": hash}`), as a
/// crash there would.
#[cfg(feature = "test-faults")]
fn crash_after_store(what: &str, hash: H256) {
	if std::env::var("TEA_FAULT_CRASH_AFTER_STORE").is_ok_and(|call| call == what) {
		println!("{}", serde_json::json!({ "stored": what, "hash": format!("{hash:?}") }));
		std::process::exit(137);
	}
}

/// Says on stdout (the daemon's JSON lines) that a pool took `entry`.
fn emit_submitted(what: &str, key: &Key, entry: &Entry, hash: H256) {
	use std::io::Write;
	tracing::debug!(target: LOG_TARGET, what, ?key, nonce = entry.nonce, ?hash, "in the pool");
	let line = serde_json::json!({
		"submitted": what,
		"nonce": entry.nonce,
		"hash": format!("{hash:?}"),
	});
	let mut out = std::io::stdout().lock();
	let _ = writeln!(out, "{line}");
	let _ = out.flush();
}

/// Looks for the extrinsic `hash` in the blocks `entry` could have been included in, up to
/// `finalized`, and reads its outcome there.
async fn find(
	client: &ChainClient,
	entry: &Entry,
	hash: H256,
	finalized: u32,
	what: &'static str,
) -> Result<Option<Result<Finalized, ChainError>>, ChainError> {
	let url = client.url.as_str();
	let fail = |e: &dyn std::error::Error| request_error(url, what, e);
	for number in (entry.birth.saturating_add(1)..=finalized.min(entry.expires)).rev() {
		let at = client.api.at_block(u64::from(number)).await.map_err(|e| fail(&e))?;
		let extrinsics = at.extrinsics().fetch().await.map_err(|e| fail(&e))?;
		for extrinsic in extrinsics.iter() {
			let extrinsic = extrinsic.map_err(|e| fail(&e))?;
			if extrinsic.hash() == hash {
				let events = extrinsic.events().await.map_err(|e| fail(&e))?;
				return Ok(Some(outcome(url, what, &at, &events, entry)));
			}
		}
	}
	Ok(None)
}

/// The outcome of an included extrinsic from its events: its events as `Pallet.Event`, or the
/// dispatch error by the pallet's error name.
fn outcome<C: subxt::client::OnlineClientAtBlockT<subxt::SubstrateConfig>>(
	url: &str,
	what: &'static str,
	at: &subxt::client::ClientAtBlock<subxt::SubstrateConfig, C>,
	events: &subxt::extrinsics::ExtrinsicEvents<subxt::SubstrateConfig>,
	entry: &Entry,
) -> Result<Finalized, ChainError> {
	let mut names = Vec::new();
	for event in events.iter() {
		let event = event.map_err(|e| request_error(url, what, &e))?;
		if event.pallet_name() == "System" && event.event_name() == "ExtrinsicFailed" {
			let error =
				subxt::error::DispatchError::decode_from(event.field_bytes(), at.metadata())
					.map_err(|e| request_error(url, what, &e))?;
			return Err(dispatch(url, what, error.into()));
		}
		names.push(format!("{}.{}", event.pallet_name(), event.event_name()));
	}
	Ok(Finalized { block: at.block_hash(), events: names, detail: entry.detail.clone() })
}

/// A failed extrinsic's error, by the pallet's error name where the metadata has it.
fn dispatch(url: &str, what: &'static str, e: subxt::error::TransactionEventsError) -> ChainError {
	use subxt::error::{DispatchError, TransactionEventsError};
	if let TransactionEventsError::ExtrinsicFailed(DispatchError::Module(module)) = &e {
		if let Ok(details) = module.details() {
			return ChainError::Dispatch {
				what,
				pallet: details.pallet.name().to_string(),
				error: details.variant.name.clone(),
			};
		}
	}
	request_error(url, what, &e)
}
