//! `pallet_tea_nodes` (birth control, the node life cycle) and `pallet_tea_attestation` (TPM
//! quotes verified in the runtime, heartbeats, admission committees).

use super::*;
use crate::{HOURS, MINUTES, UNIT};
use frame_support::weights::Weight;
use pallet_tea_upgrades::WeightInfo as _;

parameter_types! {
	/// Deposit held for each node: slashed if it is removed for cause.
	pub const NodeDeposit: Balance = 100 * UNIT;
	/// Slashed deposits (after the reporters' share) are burnt.
	pub const SlashDestination: Option<AccountId> = None;
	/// The heaviest rollout signal an attestation sends: `note_failure` with every live
	/// rollout, or `note_upgraded`, which for a measurement also checks every live rollout for
	/// a node gone back to the measurement it replaces (as costly as `note_failure`; not
	/// benchmarked on its own yet).
	pub SignalsWeight: Weight = {
		type W = crate::weights::pallet_tea_upgrades::WeightInfo<Runtime>;
		W::note_failure(16).saturating_add(W::note_upgraded())
	};
}

/// Told when a node is removed: attestation drops its records, actors its refusal-report
/// record, rewards its receipt keys (and the node forfeits the era).
pub struct NodeRemoved;
impl pallet_tea_nodes::OnNodeRemoved for NodeRemoved {
	fn on_node_removed(node: &pallet_tea_nodes::NodeId) {
		<crate::Attestation as pallet_tea_nodes::OnNodeRemoved>::on_node_removed(node);
		crate::Actors::on_node_removed(node);
		<crate::Rewards as pallet_tea_nodes::OnNodeRemoved>::on_node_removed(node);
	}
}

impl pallet_tea_nodes::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	/// Two thirds of the elected committee (or root, i.e. sudo on the dev chain) set the
	/// birth-control parameters.
	type GovernanceOrigin = super::governance::CommitteeOrRoot;
	type NodeDeposit = NodeDeposit;
	/// Admissions, promotions and removals happen every ten minutes.
	type EpochLength = ConstU32<{ 10 * MINUTES }>;
	/// A day between an exit and the deposit's return: evidence can still arrive.
	type UnbondingPeriod = ConstU32<{ 24 * HOURS }>;
	/// The same bound as rollouts' node set.
	type MaxNodes = ConstU32<1024>;
	type MaxReporters = ConstU32<16>;
	type SlashDestination = SlashDestination;
	/// Attestation and actors drop their records of removed nodes.
	type OnRemoved = NodeRemoved;
	/// Claims prove possession of the attestation key with a quote checked by attestation.
	type Possession = crate::Attestation;
	/// A registration that never completes its admission quote expires after a day.
	type CandidateExpiry = ConstU32<{ 24 * HOURS }>;
	type WeightInfo = crate::weights::pallet_tea_nodes::WeightInfo<Runtime>;
}

impl pallet_tea_attestation::Config for Runtime {
	type Nodes = crate::Nodes;
	type GovernanceOrigin = super::governance::CommitteeOrRoot;
	/// The measurement allowlist and the rollouts' health signals.
	type Upgrades = crate::Upgrades;
	/// A quote must be anchored in the last 20 blocks (two minutes).
	type ChallengeWindow = ConstU32<20>;
	type CommitteeSize = ConstU32<3>;
	/// Members vote within a minute; well inside the one-epoch appeal window.
	type ReviewPeriod = ConstU32<{ MINUTES }>;
	type MaxReviewsPerBlock = ConstU32<8>;
	type MaxNodes = ConstU32<1024>;
	/// Releases and providers as `pallet-tea-actors` knows them.
	type Releases = LoggedReleases;
	/// A quote's log holds at most 64 entries (a worker quotes again before it loads more).
	type MaxLogEntries = ConstU32<64>;
	type SignalsWeight = SignalsWeight;
	/// Accepted quotes, votes with the majority and evidence earn or cost rewards.
	type Duties = crate::Rewards;
	type WeightInfo = crate::weights::pallet_tea_attestation::WeightInfo<Runtime>;
}

/// What an event log's releases and providers are: `pallet-tea-actors`' releases that were
/// ever approved to run (kept after a roll-back or removal, so a node that loaded one in time
/// is no offender) and its registered providers.
pub struct LoggedReleases;
impl pallet_tea_attestation::LoggedReleases<crate::BlockNumber> for LoggedReleases {
	fn release(cid: &tea_primitives::ContentId) -> Option<(tea_primitives::Name, u32)> {
		crate::Actors::ever_ran(cid)
	}
	fn revoked_at(cid: &tea_primitives::ContentId) -> Option<crate::BlockNumber> {
		pallet_tea_actors::RevokedAt::<crate::Runtime>::get(cid)
	}
	fn provider(name: &[u8]) -> bool {
		tea_primitives::Name::try_from(name.to_vec())
			.is_ok_and(|name| pallet_tea_actors::Providers::<Runtime>::contains_key(name))
	}
	#[cfg(feature = "runtime-benchmarks")]
	fn ran_for_benchmark(
		cid: &tea_primitives::ContentId,
		actor: tea_primitives::Name,
		version: u32,
	) {
		pallet_tea_actors::EverRan::<Runtime>::insert(cid, (actor, version));
	}
}
