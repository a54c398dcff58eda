//! Committee duty against the chain: find the reviews this worker's node sits on, examine
//! each candidate ([`crate::committee::examine`]) and submit the verdict
//! (`attestation.vote`, signed by the node's operator).

use super::{by_node, request_error, ChainClient, ChainError, LOG_TARGET};
use crate::{
	committee::{examine, Candidate, Finding},
	tpm::Tpm,
};
use libp2p::{identity::Keypair, Multiaddr};
use pallet_tea_attestation::Review;
use sp_core::{ConstU32, H256};
use std::{collections::HashSet, time::Duration};
use subxt::{dynamic, storage, utils::Static};
use subxt_signer::sr25519;

/// The TEA runtime's block number.
pub type BlockNumber = u32;
/// A review as the TEA runtime stores it (the bound only limits decoding).
pub type ChainReview = Review<BlockNumber, ConstU32<64>>;
/// A node as the TEA runtime stores it.
pub type ChainNode = pallet_tea_nodes::NodeInfo<sp_core::crypto::AccountId32, u128, BlockNumber>;

/// A member's verdict, as submitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
	/// The candidate.
	pub node: H256,
	/// The vote.
	pub approve: bool,
	/// Why (empty when approved).
	pub reason: String,
	/// The block the vote was finalized in.
	pub block: H256,
}

/// A committee member: its node, its operator's key, its TPM and its libp2p identity.
pub struct Member {
	/// The member node's id.
	pub node: H256,
	/// The member node's operator: signs the votes.
	pub operator: sr25519::Keypair,
	/// A TPM to make credentials with.
	pub tpm: Tpm,
	/// The libp2p identity requests are sent with.
	pub key: Keypair,
	/// Known peer addresses (`…/p2p/<peer id>`).
	pub peers: Vec<Multiaddr>,
	/// How long to wait for a candidate's answer.
	pub timeout: Duration,
}

/// The open reviews `member` sits on and has not voted in yet, at the latest finalized block,
/// with that block's number.
pub async fn open_reviews(
	client: &ChainClient,
	member: H256,
) -> Result<(BlockNumber, Vec<(H256, ChainReview)>), ChainError> {
	let url = client.url.as_str();
	let fail = |what: &'static str| move |e: subxt::Error| request_error(url, what, &e);
	let at = client.api.at_current_block().await.map_err(|e| fail("finalized block")(e.into()))?;
	let reviews =
		storage::dynamic::<(Static<H256>,), Static<ChainReview>>("Attestation", "Reviews");
	let mut entries =
		at.storage().iter(reviews, ()).await.map_err(|e| fail("Attestation.Reviews")(e.into()))?;
	let mut open = Vec::new();
	while let Some(entry) = entries.next().await {
		let entry = entry.map_err(|e| fail("Attestation.Reviews")(e.into()))?;
		let key = entry.key().map_err(|e| fail("Attestation.Reviews key")(e.into()))?;
		let (Static(node),) =
			key.decode().map_err(|e| fail("Attestation.Reviews key")(e.into()))?;
		let Static(review) =
			entry.value().decode().map_err(|e| fail("Attestation.Reviews value")(e.into()))?;
		if review.members.contains(&member) && !review.votes.iter().any(|(m, _)| *m == member) {
			open.push((node, review));
		}
	}
	Ok((at.block_number() as BlockNumber, open))
}

/// The registration of `node` and the chain's TPM vendor CA keys, at the latest finalized
/// block.
pub async fn candidate(
	client: &ChainClient,
	node: H256,
) -> Result<(Candidate, Vec<Vec<u8>>), ChainError> {
	let url = client.url.as_str();
	let fail = |what: &'static str| move |e: subxt::Error| request_error(url, what, &e);
	let at = client.api.at_current_block().await.map_err(|e| fail("finalized block")(e.into()))?;
	let info: ChainNode =
		by_node(&at, url, "Nodes.Nodes", node).await?.ok_or_else(|| ChainError::Request {
			url: url.to_string(),
			what: "Nodes.Nodes",
			reason: format!("node {node:?} is not registered"),
		})?;
	let ca = storage::dynamic::<(Static<H256>,), Static<Vec<u8>>>("Upgrades", "CaKeys");
	let mut entries =
		at.storage().iter(ca, ()).await.map_err(|e| fail("Upgrades.CaKeys")(e.into()))?;
	let mut ca_keys = Vec::new();
	while let Some(entry) = entries.next().await {
		let entry = entry.map_err(|e| fail("Upgrades.CaKeys")(e.into()))?;
		let Static(key) =
			entry.value().decode().map_err(|e| fail("Upgrades.CaKeys value")(e.into()))?;
		ca_keys.push(key);
	}
	let candidate = Candidate {
		node: node.0,
		ek_public: info.ek_public.into_inner(),
		ek_certificate: info.ek_certificate.into_inner(),
		attestation_key: info.attestation_key,
		peer_id: info.peer_id.into_inner(),
	};
	Ok((candidate, ca_keys))
}

/// Submits `attestation.vote(member, node, approve)` signed by `operator` (see [`submit`]);
/// returns the block's hash.
pub async fn vote(
	client: &ChainClient,
	operator: &sr25519::Keypair,
	member: H256,
	node: H256,
	approve: bool,
) -> Result<H256, ChainError> {
	let call = dynamic::transaction("Attestation", "vote", (Static(member), Static(node), approve));
	submit(client, operator, &call, "attestation.vote").await.map(|(block, _)| block)
}

/// Signs `call` with `operator`, submits it and waits until it succeeded in a best block (a
/// review or heartbeat period lasts minutes: waiting for finality per extrinsic would spend
/// much of it). Returns the block hash and the extrinsic's events as `Pallet.Event`.
pub async fn submit<Call: subxt::transactions::Payload>(
	client: &ChainClient,
	operator: &sr25519::Keypair,
	call: &Call,
	what: &'static str,
) -> Result<(H256, Vec<String>), ChainError> {
	use subxt::transactions::TransactionStatus;
	let url = client.url.as_str();
	let fail = |e: &dyn std::error::Error| request_error(url, what, e);
	let refused = |reason: String| ChainError::Request { url: url.to_string(), what, reason };
	// The pool-aware nonce: the finalized one would clash with this account's extrinsics
	// still in the pool or in unfinalized blocks.
	let account: subxt::utils::AccountId32 = operator.public_key().into();
	let nonce = client.rpc.system_account_next_index(&account).await.map_err(|e| fail(&e))?;
	let params = subxt::config::DefaultExtrinsicParamsBuilder::<subxt::SubstrateConfig>::new()
		.nonce(nonce)
		.build();
	let at = client.api.at_current_block().await.map_err(|e| fail(&e))?;
	let mut progress = at
		.transactions()
		.sign_and_submit_then_watch(call, operator, params)
		.await
		.map_err(|e| fail(&e))?;
	while let Some(status) = progress.next().await {
		match status.map_err(|e| fail(&e))? {
			TransactionStatus::InBestBlock(included)
			| TransactionStatus::InFinalizedBlock(included) => {
				let events = included.wait_for_success().await.map_err(|e| fail(&e))?;
				let names = events
					.iter()
					.filter_map(Result::ok)
					.map(|e| format!("{}.{}", e.pallet_name(), e.event_name()))
					.collect();
				return Ok((included.block_hash(), names));
			}
			TransactionStatus::Error { message }
			| TransactionStatus::Invalid { message }
			| TransactionStatus::Dropped { message } => return Err(refused(message)),
			_ => continue,
		}
	}
	Err(refused("the node ended the transaction status stream".into()))
}

/// Dispatch errors of `attestation.vote` that another try cannot change.
const FINAL_VOTE_ERRORS: [&str; 6] =
	["AlreadyVoted", "ReviewClosed", "NotAMember", "MemberNotActive", "NotOperator", "NoReview"];

/// At most this much of a candidate's text goes into logs and verdicts.
const MAX_REASON: usize = 256;

/// `reason` cut to [`MAX_REASON`] bytes, control characters replaced.
fn printable(reason: &str) -> String {
	let mut out: String = reason.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
	if out.len() > MAX_REASON {
		let mut end = MAX_REASON;
		while !out.is_char_boundary(end) {
			end -= 1;
		}
		out.truncate(end);
		out.push('…');
	}
	out
}

impl Member {
	/// Serves on committees: with each finalized block, examines every candidate whose open
	/// review this member sits on and votes. A candidate that cannot be reached is tried
	/// again with the next block; once fewer than `last_try` blocks remain before the deadline
	/// the member votes against it without another try (the vote must still land in time).
	/// Problems on the member's side (no address known, a local network or TPM error) are
	/// logged and never become a vote against. `verdict` sees each vote; duty ends when it
	/// returns `true`. Errors reading the chain are logged and retried; only a lost
	/// connection ends the duty.
	pub async fn serve(
		&mut self,
		client: &ChainClient,
		last_try: BlockNumber,
		mut verdict: impl FnMut(&Verdict) -> bool,
	) -> Result<(), ChainError> {
		let mut blocks = client.finalized_blocks().await?;
		let mut voted = HashSet::new();
		let mut unreachable = std::collections::HashMap::new();
		loop {
			client.next_finalized(&mut blocks).await?;
			let (now, open) = match open_reviews(client, self.node).await {
				Ok(open) => open,
				Err(e) => {
					tracing::warn!(target: LOG_TARGET, error = %e, "reviews not read; trying again next block");
					continue;
				}
			};
			for (node, review) in open {
				let key = (node, review.deadline);
				// Too late to land a vote (it is included a block after the best block).
				if voted.contains(&key) || review.deadline <= now.saturating_add(1) {
					continue;
				}
				let last_chance = review.deadline.saturating_sub(now) < last_try;
				let finding = match unreachable.get(&key) {
					Some(reason) if last_chance => Finding::Unreachable(String::clone(reason)),
					_ => match self.examine(client, node).await {
						Ok(finding) => finding,
						Err(e) => {
							tracing::warn!(target: LOG_TARGET, ?node, error = %e, "candidate not examined; trying again next block");
							continue;
						}
					},
				};
				let (approve, reason) = match finding {
					Finding::Approve => (true, String::new()),
					Finding::Reject(reason) => (false, printable(&reason)),
					Finding::Unreachable(reason) if last_chance => {
						(false, format!("unreachable until the deadline: {}", printable(&reason)))
					}
					Finding::Unreachable(reason) => {
						tracing::info!(target: LOG_TARGET, ?node, reason = %printable(&reason), "candidate unreachable; trying again next block");
						unreachable.insert(key, reason);
						continue;
					}
					Finding::Abstain(reason) => {
						tracing::error!(target: LOG_TARGET, ?node, %reason, "cannot examine the candidate: not voting");
						continue;
					}
				};
				tracing::info!(target: LOG_TARGET, ?node, approve, %reason, "voting");
				let block = match vote(client, &self.operator, self.node, node, approve).await {
					Ok(block) => block,
					Err(e) if FINAL_VOTE_ERRORS.iter().any(|f| e.to_string().contains(f)) => {
						tracing::warn!(target: LOG_TARGET, ?node, error = %e, "vote refused");
						voted.insert(key);
						continue;
					}
					// Not counted: the review is read again with the next block.
					Err(e) => {
						tracing::warn!(target: LOG_TARGET, ?node, error = %e, "vote failed; trying again next block");
						continue;
					}
				};
				voted.insert(key);
				unreachable.remove(&key);
				if verdict(&Verdict { node, approve, reason, block }) {
					return Ok(());
				}
			}
		}
	}

	/// Reads `node`'s registration and the CA allowlist, and examines it.
	async fn examine(&mut self, client: &ChainClient, node: H256) -> Result<Finding, String> {
		let (candidate, ca_keys) = candidate(client, node).await.map_err(|e| e.to_string())?;
		examine(&mut self.tpm, &self.key, &self.peers, &candidate, &ca_keys, self.timeout)
			.await
			.map_err(|e| e.to_string())
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn candidate_text_is_cut_and_made_printable() {
		assert_eq!(printable("bad\ncert\u{1b}[31m"), "bad cert [31m");
		let long = "é".repeat(200);
		let cut = printable(&long);
		assert!(cut.len() <= MAX_REASON + '…'.len_utf8() && cut.ends_with('…'));
	}
}
