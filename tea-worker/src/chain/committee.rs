//! Committee duty against the chain: find the reviews this worker's node sits on, examine
//! each candidate ([`crate::committee::examine`]) and submit the verdict
//! (`attestation.vote`, signed by the node's operator).

use super::{
	by_node,
	outbox::Key,
	request_error,
	signer::{Finalized, Signer},
	ChainClient, ChainError, LOG_TARGET,
};
use crate::{
	committee::{examine, Candidate, Finding},
	p2p::Network,
	tpm::TpmHandle,
};
use libp2p::Multiaddr;
use pallet_tea_attestation::Review;
use sp_core::{ConstU32, H256};
use std::{
	collections::{HashMap, HashSet},
	sync::Arc,
};
use subxt::{dynamic, storage, utils::Static};

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

/// A committee member: its node, its operator's signer, its TPM and its libp2p endpoint.
pub struct Member {
	/// The member node's id.
	pub node: H256,
	/// The member node's operator: signs the votes.
	pub signer: Arc<Signer>,
	/// A TPM to make credentials with.
	pub tpm: TpmHandle,
	/// The endpoint requests go out through.
	pub network: Network,
	/// Known peer addresses (`…/p2p/<peer id>`).
	pub peers: Vec<Multiaddr>,
	/// Reviews voted in (node, deadline) or being voted in.
	pub voted: HashSet<(H256, BlockNumber)>,
	/// Candidates found unreachable, per review.
	pub unreachable: HashMap<(H256, BlockNumber), String>,
	/// Outcomes of votes in flight: they outlive a lost connection (a vote whose outcome never
	/// arrived would stay in `voted` and the review be skipped for good).
	done: (
		tokio::sync::mpsc::UnboundedSender<VoteOutcome>,
		tokio::sync::mpsc::UnboundedReceiver<VoteOutcome>,
	),
}

type VoteOutcome = ((H256, BlockNumber), Result<Verdict, ChainError>);

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

/// The registration of `node`, the chain's TPM vendor CA keys and the addresses `node`
/// published (binary multiaddrs), at the latest finalized block.
pub async fn candidate(
	client: &ChainClient,
	node: H256,
) -> Result<(Candidate, Vec<Vec<u8>>, Vec<Vec<u8>>), ChainError> {
	let url = client.url.as_str();
	let fail = |what: &'static str| move |e: subxt::Error| request_error(url, what, &e);
	let at = client.api.at_current_block().await.map_err(|e| fail("finalized block")(e.into()))?;
	let info: ChainNode =
		by_node(&at, url, "Nodes.Nodes", node).await?.ok_or_else(|| ChainError::Request {
			url: url.to_string(),
			what: "Nodes.Nodes",
			reason: format!("node {node:?} is not registered"),
		})?;
	let addresses: Option<Vec<Vec<u8>>> = by_node(&at, url, "Nodes.Addresses", node).await?;
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
	Ok((candidate, ca_keys, addresses.unwrap_or_default()))
}

const VOTE: &str = "attestation.vote";

/// The verdict a finalized vote of `node` cast (its verdict and reason come from the detail
/// stored with it).
fn verdict_of(node: H256, finalized: &Finalized) -> Result<Verdict, ChainError> {
	let (approve, reason): (bool, String) = codec::Decode::decode(&mut &finalized.detail[..])
		.map_err(|e| ChainError::Request {
			url: String::new(),
			what: VOTE,
			reason: format!("the stored detail does not decode: {e}"),
		})?;
	Ok(Verdict { node, approve, reason, block: finalized.block })
}

/// Errors of `attestation.vote` that another try cannot change.
pub const FINAL_VOTE_ERRORS: [&str; 6] =
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
	/// A member with no reviews seen yet.
	pub fn new(
		node: H256,
		signer: Arc<Signer>,
		tpm: TpmHandle,
		network: Network,
		peers: Vec<Multiaddr>,
	) -> Self {
		Self {
			node,
			signer,
			tpm,
			network,
			peers,
			voted: HashSet::new(),
			unreachable: HashMap::new(),
			done: tokio::sync::mpsc::unbounded_channel(),
		}
	}

	/// Serves on committees until `stop` is set (returns `Ok`) or the connection is lost (the
	/// error): with each finalized block, examines every candidate whose open review this
	/// member sits on and votes. A candidate that cannot be reached is tried again with the
	/// next block; once fewer than `last_try` blocks remain before the deadline the member
	/// votes against it without another try (the vote must still land in time). Problems on
	/// the member's side (no address known, a local network or TPM error) are logged and never
	/// become a vote against. Votes are followed to finalization concurrently; `verdict` sees
	/// each finalized one. Errors reading the chain are logged and retried.
	pub async fn follow(
		&mut self,
		client: &Arc<ChainClient>,
		last_try: BlockNumber,
		stop: &tokio::sync::watch::Receiver<bool>,
		verdict: &mut (dyn FnMut(&Verdict) + Send),
	) -> Result<(), ChainError> {
		let mut blocks = client.finalized_blocks().await?;
		let mut stop = stop.clone();
		loop {
			tokio::select! {
				block = client.next_finalized(&mut blocks) => { block?; }
				Some((key, outcome)) = self.done.1.recv() => {
					self.voted(key, outcome, verdict);
					continue;
				}
				// Votes still in flight finish on their own tasks.
				_ = stop.wait_for(|stop| *stop) => return Ok(()),
			}
			if let Err(e) = self.resume_stored(client) {
				tracing::error!(target: LOG_TARGET, error = %e, "outbox not read; trying again next block");
				continue;
			}
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
				if self.voted.contains(&key) || review.deadline <= now.saturating_add(1) {
					continue;
				}
				let last_chance = review.deadline.saturating_sub(now) < last_try;
				let finding = match self.unreachable.get(&key) {
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
						self.unreachable.insert(key, reason);
						continue;
					}
					Finding::Abstain(reason) => {
						tracing::error!(target: LOG_TARGET, ?node, %reason, "cannot examine the candidate: not voting");
						continue;
					}
				};
				tracing::info!(target: LOG_TARGET, ?node, approve, %reason, "voting");
				self.voted.insert(key);
				let (client, signer, member, done) =
					(client.clone(), self.signer.clone(), self.node, self.done.0.clone());
				tokio::spawn(async move {
					let call = dynamic::transaction(
						"Attestation",
						"vote",
						(Static(member), Static(node), approve),
					);
					let stored = Key::Vote { member: member.0, candidate: node.0, deadline: key.1 };
					let detail = codec::Encode::encode(&(approve, &reason));
					let outcome = signer.submit(&client, stored, &call, VOTE, detail).await;
					let _ = done.send((key, outcome.and_then(|f| verdict_of(node, &f))));
				});
			}
		}
	}

	/// Resumes every vote of this member stored in the outbox and not being followed yet.
	fn resume_stored(&mut self, client: &Arc<ChainClient>) -> Result<(), ChainError> {
		for (stored, _) in self.signer.outbox().entries()? {
			let Key::Vote { member, candidate, deadline } = stored else { continue };
			let key = (H256(candidate), deadline);
			if member != self.node.0 || !self.voted.insert(key) {
				continue;
			}
			let (client, signer, done) = (client.clone(), self.signer.clone(), self.done.0.clone());
			tokio::spawn(async move {
				let outcome = signer.resume(&client, stored, VOTE).await;
				let _ = done.send((key, outcome.and_then(|f| verdict_of(key.0, &f))));
			});
		}
		Ok(())
	}

	/// Records a vote's outcome: finalized, refused for good, or to be tried again.
	fn voted(
		&mut self,
		key: (H256, BlockNumber),
		outcome: Result<Verdict, ChainError>,
		verdict: &mut (dyn FnMut(&Verdict) + Send),
	) {
		match outcome {
			Ok(v) => {
				crate::metrics::vote(v.approve);
				self.unreachable.remove(&key);
				verdict(&v);
			}
			Err(ChainError::Dispatch { error, .. })
				if FINAL_VOTE_ERRORS.contains(&error.as_str()) =>
			{
				tracing::warn!(target: LOG_TARGET, node = ?key.0, %error, "vote refused");
			}
			// Not counted: the review is read again with the next block.
			Err(e) => {
				tracing::warn!(target: LOG_TARGET, node = ?key.0, error = %e, "vote failed; trying again next block");
				self.voted.remove(&key);
			}
		}
	}

	/// Reads `node`'s registration, the CA allowlist and where `node` said it listens, and
	/// examines it there (and at any configured address of it).
	async fn examine(&mut self, client: &ChainClient, node: H256) -> Result<Finding, String> {
		let (candidate, ca_keys, addresses) =
			candidate(client, node).await.map_err(|e| e.to_string())?;
		let mut known = self.peers.clone();
		if let Ok(peer) = libp2p::PeerId::from_bytes(&candidate.peer_id) {
			known.extend(crate::p2p::published(peer, &addresses));
		}
		examine(&self.tpm, &self.network, &known, &candidate, &ca_keys)
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
