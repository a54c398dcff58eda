//! The chain-backed [`GrantSource`]: the releases the chain lets this worker run, read from
//! finalized state and kept current by following finalized blocks.
//!
//! A release may run when it is `Active`, or when it is `Rolling` and this worker's node is
//! assigned to an opened tier of its rollout (`upgrades.assignments`). Revoked grants are
//! marked revoked; every other release (proposed, validated, approved but not rolled out,
//! deprecated, revoked, rejected) is refused with the reason, which `reason` tells.

use super::{request_error, ChainClient, ChainError, LOG_TARGET};
use crate::grants::{ApprovedRelease, GrantSource, GrantState, LocalGrants};
use pallet_tea_actors::ReleaseStatus;
use pallet_tea_upgrades::{Assignment, RolloutId, RolloutKey, RolloutTarget};
use sp_core::{ConstU32, H256};
use std::{
	collections::HashMap,
	sync::{Arc, RwLock},
};
use subxt::{storage, utils::Static};
use tea_primitives::{manifest::Name, ContentId};

/// The TEA runtime's block number.
pub type BlockNumber = u32;
/// A release as the TEA runtime stores it (`runtime/src/configs/actors.rs`: balances are
/// `u128`, validators sign with their sr25519 Aura key; the bound only limits decoding).
pub type ChainRelease =
	pallet_tea_actors::Release<BlockNumber, u128, sp_core::sr25519::Public, ConstU32<1024>>;
/// A rollout as the TEA runtime stores it (the bound only limits decoding).
pub type ChainRollout = pallet_tea_upgrades::Rollout<BlockNumber, ConstU32<256>>;

/// What the chain says about the releases, at one finalized block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReleaseView {
	/// The finalized block read.
	pub block: BlockNumber,
	/// Its hash.
	pub hash: H256,
	/// What the chain says of this worker's node there (none without a node id): what its
	/// receipts claim.
	pub node: Option<super::receipts::NodeFacts>,
	/// Releases this worker may run.
	pub runnable: Vec<ApprovedRelease>,
	/// The release of each actor that runs here by name (and as a `tea:message` target): the
	/// rolling one where its tier is open for this node, else the active one.
	pub active: HashMap<String, ContentId>,
	/// Why each other release may not run here.
	pub refused: HashMap<ContentId, String>,
}

/// Grants from the chain, refreshed by [`ChainGrants::follow`].
pub struct ChainGrants {
	node: Option<H256>,
	grants: LocalGrants,
	refused: RwLock<HashMap<ContentId, String>>,
}

impl ChainGrants {
	/// Reads the chain's releases at the latest finalized block. `node` is this worker's node
	/// id, which decides whether rolling releases may run; without one, only active releases
	/// run.
	pub async fn load(client: &ChainClient, node: Option<H256>) -> Result<Arc<Self>, ChainError> {
		let this = Self::empty(node);
		this.refresh(client).await?;
		Ok(this)
	}

	/// Grants of `node` before anything was read: nothing may run until a view is applied
	/// ([`ChainGrants::apply`]).
	pub fn empty(node: Option<H256>) -> Arc<Self> {
		Arc::new(Self { node, grants: LocalGrants::new(), refused: Default::default() })
	}

	/// Re-reads the releases at the latest finalized block.
	pub async fn refresh(&self, client: &ChainClient) -> Result<(), ChainError> {
		let view = read_view(client, self.node).await?;
		tracing::debug!(
			target: LOG_TARGET,
			block = view.block,
			runnable = view.runnable.len(),
			refused = view.refused.len(),
			"releases read"
		);
		self.apply(view);
		Ok(())
	}

	/// Takes `view` (read for this node) as the current grants.
	pub fn apply(&self, view: ReleaseView) {
		self.grants.replace_all(view.runnable, view.active, view.block);
		*self.refused.write().unwrap_or_else(|e| e.into_inner()) = view.refused;
	}

	/// Follows finalized blocks: the block number advances with each one, and the releases
	/// are re-read whenever a block carries an event of `Actors` or `Upgrades` (a new status, a
	/// revocation, an opened tier) or a runtime upgrade. After each block, `done` is asked
	/// whether to stop; a daemon passes `|_| false` and follows until the connection ends.
	pub async fn follow(
		&self,
		client: &ChainClient,
		mut done: impl FnMut(&Self) -> bool,
	) -> Result<(), ChainError> {
		let url = client.url.as_str();
		let mut blocks = client.finalized_blocks().await?;
		loop {
			let block = client.next_finalized(&mut blocks).await?;
			let at = block.at().await.map_err(|e| request_error(url, "block state", &e))?;
			let events = at.events().fetch().await.map_err(|e| request_error(url, "events", &e))?;
			let relevant = events.iter().filter_map(Result::ok).any(|e| {
				matches!(e.pallet_name(), "Actors" | "Upgrades")
					|| (e.pallet_name() == "System" && e.event_name() == "CodeUpdated")
			});
			if relevant {
				self.refresh(client).await?;
			}
			// `refresh` read the latest finalized block, which may be ahead of this one.
			let number = (block.number() as BlockNumber).max(self.grants.current_block());
			self.grants.set_block(number);
			if done(self) {
				return Ok(());
			}
		}
	}

	/// The releases that may run here.
	pub fn releases(&self) -> Vec<ApprovedRelease> {
		self.grants.releases()
	}

	/// [`LocalGrants::resolve`] of the current grants.
	pub fn resolve(
		&self,
		actor: Option<&str>,
		cid: Option<&ContentId>,
	) -> (Option<ContentId>, Option<ApprovedRelease>, BlockNumber) {
		self.grants.resolve(actor, cid)
	}

	/// Why the release with this CID may not run here, if the chain knows it.
	pub fn reason(&self, cid: &ContentId) -> Option<String> {
		self.refused.read().unwrap_or_else(|e| e.into_inner()).get(cid).cloned()
	}
}

impl GrantSource for ChainGrants {
	fn release(&self, cid: &ContentId) -> Option<ApprovedRelease> {
		self.grants.release(cid)
	}

	fn active(&self, actor: &str) -> Option<ContentId> {
		self.grants.active(actor)
	}

	fn current_block(&self) -> u32 {
		self.grants.current_block()
	}
}

/// Reads every release, and for rolling ones this node's tier, at the latest finalized block.
pub async fn read_view(
	client: &ChainClient,
	node: Option<H256>,
) -> Result<ReleaseView, ChainError> {
	let url = client.url.as_str();
	let fail = |what: &'static str| move |e: subxt::Error| request_error(url, what, &e);
	let at = client
		.api
		.at_current_block()
		.await
		.map_err(|e| request_error(url, "finalized block", &e))?;
	let mut view = ReleaseView {
		block: at.block_number() as BlockNumber,
		hash: at.block_hash(),
		..Default::default()
	};
	if let Some(node) = node {
		view.node = Some(super::receipts::node_facts(&at, url, node).await?);
	}
	let releases =
		storage::dynamic::<(Static<Name>, u32), Static<ChainRelease>>("Actors", "Releases");
	let mut entries =
		at.storage().iter(releases, ()).await.map_err(|e| fail("Actors.Releases")(e.into()))?;
	let mut rolling = Vec::new();
	while let Some(entry) = entries.next().await {
		let entry = entry.map_err(|e| fail("Actors.Releases")(e.into()))?;
		let key = entry.key().map_err(|e| fail("Actors.Releases key")(e.into()))?;
		let (Static(actor), version) =
			key.decode().map_err(|e| fail("Actors.Releases key")(e.into()))?;
		let Static(release) =
			entry.value().decode().map_err(|e| fail("Actors.Releases value")(e.into()))?;
		let name = String::from_utf8_lossy(&actor).into_owned();
		let label = format!("release {name} v{version}");
		match release.status {
			ReleaseStatus::Active => {
				view.active.insert(name.clone(), release.cid.clone());
				view.runnable.push(approved(name, version, &release));
			}
			ReleaseStatus::Rolling => rolling.push((actor, name, version, release)),
			ref other => {
				let reason = format!(
					"{label} is {other:?} on chain: only active releases, and rolling ones \
					 whose tier is open for this node, may run"
				);
				view.refused.insert(release.cid.clone(), reason);
			}
		}
	}
	for (actor, name, version, release) in rolling {
		let label = format!("release {name} v{version}");
		let refusal = match node {
			None => Some(format!("{label} is rolling out, and this worker has no node id")),
			Some(node) => match tier_is_open(&at, url, &actor, version, node).await? {
				true => None,
				false => Some(format!(
					"{label} is rolling out, and node {node:?} is not in an opened tier"
				)),
			},
		};
		match refusal {
			None => {
				// This node's tier moved on: invocations by name run the new release.
				view.active.insert(name.clone(), release.cid.clone());
				view.runnable.push(approved(name, version, &release));
			}
			Some(reason) => {
				view.refused.insert(release.cid.clone(), reason);
			}
		}
	}
	Ok(view)
}

/// Whether `node` is assigned to an opened tier of the live rollout of `actor` `version`.
pub(super) async fn tier_is_open(
	at: &subxt::OnlineClientAtBlock<subxt::SubstrateConfig>,
	url: &str,
	actor: &Name,
	version: u32,
	node: H256,
) -> Result<bool, ChainError> {
	let Some(id): Option<RolloutId> =
		super::by_key(at, url, "Upgrades.LiveByKey", RolloutKey::Actor(actor.clone())).await?
	else {
		return Ok(false);
	};
	let Some(rollout): Option<ChainRollout> =
		super::by_key(at, url, "Upgrades.Rollouts", id).await?
	else {
		return Ok(false);
	};
	if !matches!(&rollout.target, RolloutTarget::Release { version: v, .. } if *v == version) {
		return Ok(false);
	}
	open_for(at, url, id, &rollout, node).await
}

/// Whether `node` is assigned to an opened tier of `rollout` (number `id`): the rule of the
/// upgrades pallet's `measurement_allowed` and `tier_is_open`.
pub(super) async fn open_for(
	at: &subxt::OnlineClientAtBlock<subxt::SubstrateConfig>,
	url: &str,
	id: RolloutId,
	rollout: &ChainRollout,
	node: H256,
) -> Result<bool, ChainError> {
	let Some(assignment): Option<Assignment> =
		super::by_keys(at, url, "Upgrades.Assignments", id, node).await?
	else {
		return Ok(false);
	};
	Ok(rollout.state.open_tier().is_some_and(|open| assignment.tier <= open))
}

fn approved(actor: String, version: u32, release: &ChainRelease) -> ApprovedRelease {
	ApprovedRelease {
		actor,
		version,
		cid: release.cid.clone(),
		grants: release
			.grants
			.iter()
			.map(|r| GrantState { grant: r.grant.clone(), revoked: r.revoked_at.is_some() })
			.collect(),
	}
}
