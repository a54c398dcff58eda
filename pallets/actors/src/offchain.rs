//! The validators' off-chain check of proposed releases.
//!
//! On every block, a node whose keystore holds the key of a current validator takes up to
//! [`MAX_CHECKS_PER_BLOCK`] proposed releases it has not approved yet, fetches each one's bytes
//! from `<gateway>/ipfs/<cid>` (the IPFS path-gateway convention), checks them with
//! [`tea_primitives::code::check_release`] and submits its signed [`Verdict`]. A fetch that fails
//! (gateway down, 404, timeout) produces no verdict: it says nothing about the release, so it is
//! retried after `FetchRetryBlocks`.

use super::*;
use alloc::{format, vec::Vec};
use codec::Encode;
use frame_support::traits::Get;
use frame_system::offchain::{CreateAuthorizedTransaction, SubmitTransaction};
use sp_runtime::{
	offchain::{http, storage::StorageValueRef, Duration, StorageKind},
	traits::Saturating,
	RuntimeAppPublic,
};

/// Off-chain local storage key (PERSISTENT) of the gateway base URL, as UTF-8 bytes, e.g.
/// `http://127.0.0.1:8080`. Set it with the `offchain_localStorageSet` RPC.
pub const GATEWAY_KEY: &[u8] = b"tea::gateway";

/// Prefix of the local storage keys that remember when a release was last tried.
const ATTEMPT_KEY_PREFIX: &[u8] = b"tea::actors::attempt::";

/// Most releases one off-chain worker run fetches and checks.
pub const MAX_CHECKS_PER_BLOCK: usize = 2;

/// Wall-clock limit of one fetch, in milliseconds.
const FETCH_TIMEOUT_MS: u64 = 10_000;

/// Why bytes could not be fetched (not a verdict on the release).
#[derive(Debug)]
#[allow(dead_code)] // The fields are read by the `Debug` of the warning log line.
pub(crate) enum FetchError {
	/// The HTTP request could not be started or finished in time.
	Http(http::Error),
	/// The gateway answered with a status other than 200.
	Status(u16),
	/// The body could not be read to the end.
	Body(sp_core::offchain::HttpError),
}

impl<T: Config> Pallet<T> {
	/// The off-chain worker's entry point.
	pub(crate) fn validate_pending_releases(now: BlockNumberFor<T>) {
		if !sp_io::offchain::is_validator() {
			return;
		}
		let Some(key) = Self::local_validator_key() else {
			return;
		};
		let pending = PendingValidation::<T>::get();
		if pending.is_empty() {
			return;
		}
		let Some(gateway) =
			sp_io::offchain::local_storage_get(StorageKind::PERSISTENT, GATEWAY_KEY)
				.and_then(|raw| alloc::string::String::from_utf8(raw).ok())
		else {
			log::warn!(
				target: LOG_TARGET,
				"{} release(s) wait for validation but no gateway URL is set (off-chain local storage key `tea::gateway`)",
				pending.len()
			);
			return;
		};

		let mut checked = 0;
		for (actor, version) in pending {
			if checked >= MAX_CHECKS_PER_BLOCK {
				break;
			}
			let Some(release) = Releases::<T>::get(&actor, version) else { continue };
			if release.approvals.contains(&key) || !Self::claim_attempt(&actor, version, now) {
				continue;
			}
			checked += 1;
			let bytes = match Self::fetch(&gateway, &release.cid, release.code_size) {
				Ok(bytes) => bytes,
				Err(e) => {
					log::warn!(
						target: LOG_TARGET,
						"cannot fetch {} for release {:?}/{version}: {e:?}; retrying later",
						release.cid.to_text(),
						alloc::string::String::from_utf8_lossy(&actor),
					);
					continue;
				}
			};
			let grants: Vec<_> = release.grants.iter().map(|r| r.grant.clone()).collect();
			let outcome = match tea_primitives::code::check_release(
				&bytes,
				&release.cid,
				release.code_size,
				&grants,
			) {
				Ok(_) => VerdictOutcome::Approve,
				Err(reason) => VerdictOutcome::Reject(reason),
			};
			let verdict =
				Verdict { actor, version, cid: release.cid, validator: key.clone(), outcome };
			if let Err(e) = Self::submit_verdict_transaction(verdict) {
				log::warn!(target: LOG_TARGET, "cannot submit verdict: {e}");
			}
		}
	}

	/// Signs `verdict` with the validator key and puts it in the transaction pool.
	pub(crate) fn submit_verdict_transaction(
		verdict: Verdict<T::ValidatorId>,
	) -> Result<(), &'static str> {
		let signature = verdict
			.validator
			.sign(&verdict.signing_payload())
			.ok_or("validator key not in keystore")?;
		log::info!(
			target: LOG_TARGET,
			"verdict on {:?}/{}: {:?}",
			alloc::string::String::from_utf8_lossy(&verdict.actor),
			verdict.version,
			verdict.outcome
		);
		let call = Call::submit_verdict { verdict, signature };
		let xt =
			<T as CreateAuthorizedTransaction<Call<T>>>::create_authorized_transaction(call.into());
		SubmitTransaction::<T, Call<T>>::submit_transaction(xt)
			.map_err(|()| "transaction pool refused the verdict")
	}

	/// The first key in the local keystore that belongs to a current validator.
	pub(crate) fn local_validator_key() -> Option<T::ValidatorId> {
		let validators = T::Validators::validators();
		T::ValidatorId::all().into_iter().find(|key| validators.contains(key))
	}

	/// Records an attempt on `actor`/`version` at `now`, unless one was made less than
	/// `FetchRetryBlocks` ago. Atomic across concurrent off-chain worker runs.
	fn claim_attempt(actor: &Name, version: u32, now: BlockNumberFor<T>) -> bool {
		let mut key = ATTEMPT_KEY_PREFIX.to_vec();
		(actor, version).encode_to(&mut key);
		let retry = T::FetchRetryBlocks::get();
		StorageValueRef::persistent(&key)
			.mutate(|last: Result<Option<BlockNumberFor<T>>, _>| match last {
				Ok(Some(at)) if now < at.saturating_add(retry) => Err(()),
				_ => Ok(now),
			})
			.is_ok()
	}

	/// Fetches the bytes of `cid` from the gateway, reading at most `code_size + 1` bytes (one
	/// more than declared, so that a longer body shows up as a size mismatch).
	pub(crate) fn fetch(
		gateway: &str,
		cid: &ContentId,
		code_size: u32,
	) -> Result<Vec<u8>, FetchError> {
		let url = format!("{}/ipfs/{}", gateway.trim_end_matches('/'), cid.to_text());
		let deadline = sp_io::offchain::timestamp().add(Duration::from_millis(FETCH_TIMEOUT_MS));
		let pending = http::Request::get(&url)
			.deadline(deadline)
			.send()
			.map_err(|_| FetchError::Http(http::Error::IoError))?;
		let response = pending
			.try_wait(deadline)
			.map_err(|_| FetchError::Http(http::Error::DeadlineReached))?
			.map_err(FetchError::Http)?;
		if response.code != 200 {
			return Err(FetchError::Status(response.code));
		}
		let limit = (code_size as usize).saturating_add(1);
		let mut body = response.body();
		let bytes: Vec<u8> = body.by_ref().take(limit).collect();
		if bytes.len() < limit {
			if let Some(error) = body.error() {
				return Err(FetchError::Body(*error));
			}
		}
		Ok(bytes)
	}
}
