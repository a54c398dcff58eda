//! The operator's one signer: every extrinsic the worker sends goes through [`Signer`], which
//! allocates nonces in one place, bounds every submission in time and follows it to
//! finalization.

use super::{request_error, ChainClient, ChainError, LOG_TARGET};
use sp_core::H256;
use std::time::Duration;
use subxt_signer::sr25519;

/// How long a submission may take from signing to finalization.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(60);

/// A finalized, successful extrinsic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finalized {
	/// The block it was finalized in.
	pub block: H256,
	/// Its events as `Pallet.Event`.
	pub events: Vec<String>,
}

/// Signs with the node operator's key; the only holder of that key in the worker.
pub struct Signer {
	key: sr25519::Keypair,
	/// The next nonce this signer will use, once known.
	next: tokio::sync::Mutex<Option<u64>>,
	timeout: Duration,
}

impl Signer {
	/// A signer for `key`, each submission bounded by `timeout`.
	pub fn new(key: sr25519::Keypair, timeout: Duration) -> Self {
		Self { key, next: tokio::sync::Mutex::new(None), timeout }
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

	/// Signs `call`, submits it through `client` and waits until it is finalized and
	/// succeeded. Submissions from several tasks are signed one after the other with
	/// consecutive nonces and then followed concurrently. A block that is retracted is waited
	/// out (the node puts its extrinsics back into the pool); a dispatch error comes back as
	/// [`ChainError::Dispatch`] with the pallet's error name.
	pub async fn submit<Call: subxt::transactions::Payload>(
		&self,
		client: &ChainClient,
		call: &Call,
		what: &'static str,
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
		let result = tokio::time::timeout(self.timeout, self.submit_inner(client, call, what))
			.await
			.unwrap_or_else(|_| {
				Err(ChainError::Request {
					url: client.url.clone(),
					what,
					reason: format!("not finalized within {} s", self.timeout.as_secs()),
				})
			});
		crate::metrics::submission(what, if result.is_ok() { "finalized" } else { "failed" });
		if result.is_err() {
			// Whatever happened, ask the pool again next time.
			*self.next.lock().await = None;
		}
		result
	}

	async fn submit_inner<Call: subxt::transactions::Payload>(
		&self,
		client: &ChainClient,
		call: &Call,
		what: &'static str,
	) -> Result<Finalized, ChainError> {
		use subxt::transactions::TransactionStatus;
		let url = client.url.as_str();
		let fail = |e: &dyn std::error::Error| request_error(url, what, e);
		let refused = |reason: String| ChainError::Request { url: url.to_string(), what, reason };
		let mut progress = {
			let mut next = self.next.lock().await;
			// The pool-aware nonce: it counts this account's extrinsics still in the pool; a
			// nonce this signer handed out itself may be ahead of what the pool shows yet.
			let pool = client
				.rpc
				.system_account_next_index(&self.account())
				.await
				.map_err(|e| fail(&e))?;
			let nonce = next.map_or(pool, |n| n.max(pool));
			let params =
				subxt::config::DefaultExtrinsicParamsBuilder::<subxt::SubstrateConfig>::new()
					.nonce(nonce)
					.build();
			let at = client.api.at_current_block().await.map_err(|e| fail(&e))?;
			let progress = at
				.transactions()
				.sign_and_submit_then_watch(call, &self.key, params)
				.await
				.map_err(|e| fail(&e))?;
			*next = Some(nonce + 1);
			progress
		};
		while let Some(status) = progress.next().await {
			match status.map_err(|e| fail(&e))? {
				TransactionStatus::InFinalizedBlock(included) => {
					let events =
						included.wait_for_success().await.map_err(|e| dispatch(url, what, e))?;
					let events = events
						.iter()
						.filter_map(Result::ok)
						.map(|e| format!("{}.{}", e.pallet_name(), e.event_name()))
						.collect();
					return Ok(Finalized { block: included.block_hash(), events });
				}
				TransactionStatus::NoLongerInBestBlock => {
					tracing::info!(target: LOG_TARGET, what, "block retracted; waiting for the extrinsic to be included again");
				}
				TransactionStatus::Error { message }
				| TransactionStatus::Invalid { message }
				| TransactionStatus::Dropped { message } => return Err(refused(message)),
				_ => continue,
			}
		}
		Err(refused("the node ended the transaction status stream".into()))
	}
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
