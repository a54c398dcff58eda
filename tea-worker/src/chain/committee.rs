//! Committee duty against the chain: find the reviews this worker's node sits on, examine
//! each candidate ([`crate::committee::examine`]) and submit the verdict
//! (`attestation.vote`, signed by the node's operator).

use super::{request_error, ChainClient, ChainError, LOG_TARGET};
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
	let nodes = storage::dynamic::<(Static<H256>,), Static<ChainNode>>("Nodes", "Nodes");
	let info = at
		.storage()
		.try_fetch(nodes, (Static(node),))
		.await
		.map_err(|e| fail("Nodes.Nodes")(e.into()))?
		.ok_or_else(|| ChainError::Request {
			url: url.to_string(),
			what: "Nodes.Nodes",
			reason: format!("node {node:?} is not registered"),
		})?;
	let Static(info) = info.decode().map_err(|e| fail("Nodes.Nodes value")(e.into()))?;
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
	let at = client.api.at_current_block().await.map_err(|e| fail(&e))?;
	let mut progress = at
		.transactions()
		.sign_and_submit_then_watch_default(call, operator)
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

impl Member {
	/// Serves on committees: with each finalized block, examines every candidate whose open
	/// review this member sits on and votes. An unreachable candidate is tried again with
	/// the next block, and voted against once fewer than `last_try` blocks remain before its
	/// deadline. `verdict` sees each vote; duty ends when it returns `true`.
	pub async fn serve(
		&mut self,
		client: &ChainClient,
		last_try: BlockNumber,
		mut verdict: impl FnMut(&Verdict) -> bool,
	) -> Result<(), ChainError> {
		let url = client.url.as_str();
		let mut blocks = client.finalized_blocks().await?;
		let mut voted = HashSet::new();
		loop {
			client.next_finalized(&mut blocks).await?;
			let (now, open) = open_reviews(client, self.node).await?;
			for (node, review) in open {
				if voted.contains(&(node, review.deadline)) {
					continue;
				}
				let (candidate, ca_keys) = candidate(client, node).await?;
				let finding = examine(
					&mut self.tpm,
					&self.key,
					&self.peers,
					&candidate,
					&ca_keys,
					self.timeout,
				)
				.await
				.map_err(|e| ChainError::Request {
					url: url.to_string(),
					what: "committee duty",
					reason: e.to_string(),
				})?;
				let (approve, reason) = match finding {
					Finding::Approve => (true, String::new()),
					Finding::Reject(reason) => (false, reason),
					Finding::Unreachable(reason)
						if review.deadline.saturating_sub(now) < last_try =>
					{
						(false, format!("unreachable until the deadline: {reason}"))
					}
					Finding::Unreachable(reason) => {
						tracing::info!(target: LOG_TARGET, ?node, %reason, "candidate unreachable; trying again next block");
						continue;
					}
				};
				tracing::info!(target: LOG_TARGET, ?node, approve, %reason, "voting");
				let block = match vote(client, &self.operator, self.node, node, approve).await {
					Ok(block) => block,
					// Counted already (a vote from before a restart): nothing left to do.
					Err(e) if e.to_string().contains("AlreadyVoted") => {
						voted.insert((node, review.deadline));
						continue;
					}
					// Not counted: the review is read again with the next block.
					Err(e) => {
						tracing::warn!(target: LOG_TARGET, ?node, error = %e, "vote failed; trying again next block");
						continue;
					}
				};
				voted.insert((node, review.deadline));
				if verdict(&Verdict { node, approve, reason, block }) {
					return Ok(());
				}
			}
		}
	}
}
