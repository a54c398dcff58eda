//! What the chain says about a node and a release at one block, as proof-of-trust receipts
//! need it (`tea_primitives::receipt`): the node duty's view of itself when it signs one, and
//! `tea-worker verify` when it checks one at the block the receipt names.

use super::{
	by_key, by_keys, by_node, committee::ChainNode, grants, request_error, ChainClient, ChainError,
};
use pallet_tea_actors::ReleaseStatus;
use pallet_tea_attestation::{EvidenceState, Record};
use pallet_tea_nodes::NodeState;
use sp_core::H256;
use subxt::SubstrateConfig;
use tea_primitives::{
	receipt::{ChainFacts, Standing},
	ContentId, Name,
};

use grants::BlockNumber;

/// What a receipt of `node` at one block says about the node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeFacts {
	/// Where it stood: not registered, serving (probation or active), or not serving.
	pub standing: Standing,
	/// Its latest accepted attestation.
	pub last_valid: Option<BlockNumber>,
	/// The receipt key its evidence bound.
	pub receipt_key: Option<[u8; 32]>,
}

/// Reads [`NodeFacts`] of `node` at block `at`.
pub async fn node_facts(
	at: &subxt::OnlineClientAtBlock<SubstrateConfig>,
	url: &str,
	node: H256,
) -> Result<NodeFacts, ChainError> {
	let info: Option<ChainNode> = by_node(at, url, "Nodes.Nodes", node).await?;
	let record: Option<Record<BlockNumber>> = by_node(at, url, "Attestation.Records", node).await?;
	let evidence: Option<EvidenceState<BlockNumber>> =
		by_node(at, url, "Attestation.Evidence", node).await?;
	Ok(NodeFacts {
		standing: match info.map(|info| info.state) {
			None => Standing::Unknown,
			Some(NodeState::Probation { .. } | NodeState::Active) => Standing::Serving,
			Some(_) => Standing::NotServing,
		},
		last_valid: record.and_then(|r| r.last_valid),
		receipt_key: evidence.and_then(|e| e.receipt_key),
	})
}

/// Why a receipt's block cannot be checked.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
	/// The chain read failed.
	#[error(transparent)]
	Chain(#[from] ChainError),
	/// The RPC node does not have the block or its state.
	#[error(
		"the chain at {url} has no state of block {hash:?} ({reason}): it is not a block of this \
		 chain, or the node pruned its state (verify against an archive node: \
		 `tea-node --state-pruning archive`)"
	)]
	NoState {
		/// The endpoint.
		url: String,
		/// The block hash.
		hash: H256,
		/// What the node said.
		reason: String,
	},
}

/// Reads, at the block whose hash is `hash`, what a receipt of `node` for the release `cid`
/// claims ([`ChainFacts`]): `block` is none unless the block is finalized on this chain.
pub async fn chain_facts(
	client: &ChainClient,
	hash: H256,
	node: H256,
	cid: &ContentId,
) -> Result<ChainFacts<BlockNumber>, BlockError> {
	let url = client.url.as_str();
	let no_state = |reason: String| BlockError::NoState { url: url.to_owned(), hash, reason };
	let at = client
		.api
		.at_block(subxt::backend::BlockRef::from_hash(hash))
		.await
		.map_err(|e| no_state(super::root_cause(&e)))?;
	let number = at.block_number();
	// Finalized, and on the finalized chain (not a fork's block the node still has).
	let finalized = client
		.api
		.at_current_block()
		.await
		.map_err(|e| request_error(url, "finalized block", &subxt::Error::from(e)))?;
	let canonical = number <= finalized.block_number()
		&& client
			.api
			.at_block(number)
			.await
			.map_err(|e| request_error(url, "block by number", &subxt::Error::from(e)))?
			.block_hash()
			== hash;
	let facts = node_facts(&at, url, node).await?;
	let now: Option<ChainNode> = by_node(&finalized, url, "Nodes.Nodes", node).await?;
	let quarantined_now =
		now.is_some_and(|info| matches!(info.state, NodeState::Quarantined { .. }));
	let release: Option<(Name, u32)> = by_key(&at, url, "Actors.ReleaseByCid", cid.clone()).await?;
	let runnable = match &release {
		None => false,
		Some((actor, version)) => {
			let stored: Option<grants::ChainRelease> =
				by_keys(&at, url, "Actors.Releases", actor.clone(), *version).await?;
			match stored.map(|r| r.status) {
				Some(ReleaseStatus::Active) => true,
				Some(ReleaseStatus::Rolling) => {
					grants::tier_is_open(&at, url, actor, *version, node).await?
				}
				_ => false,
			}
		}
	};
	Ok(ChainFacts {
		block: canonical.then_some(number as BlockNumber),
		standing: facts.standing,
		last_valid: facts.last_valid,
		receipt_key: facts.receipt_key,
		release,
		runnable,
		quarantined_now,
	})
}
