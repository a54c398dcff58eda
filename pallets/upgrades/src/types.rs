//! The types of the upgrades pallet and the traits that connect it to the node registry and to
//! attestation.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{
	pallet_prelude::{ConstU32, Get},
	BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound,
};
use scale_info::TypeInfo;
use sp_core::H256;
use sp_runtime::{Perbill, Percent};
use tea_primitives::manifest::Name;

/// Identifies a rollout; assigned in order from 0.
pub type RolloutId = u32;

/// A mini-runtime measurement: the SHA-256 PCR digest a TPM quote of a node running that
/// mini-runtime carries (`TPMS_QUOTE_INFO.pcrDigest`).
pub type Measurement = H256;

/// Longest TPM vendor CA key (DER `SubjectPublicKeyInfo`; RSA-4096 is 550 bytes).
pub const MAX_CA_KEY_LEN: u32 = 1024;

/// A TPM vendor CA public key, DER `SubjectPublicKeyInfo`.
pub type CaKey = BoundedVec<u8, ConstU32<MAX_CA_KEY_LEN>>;

/// What a rollout upgrades.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum RolloutTarget {
	/// A validated release of an actor (pallet `actors`); on completion it becomes `Active` and
	/// the previous active release `Deprecated`.
	Release {
		/// Actor name.
		actor: Name,
		/// Release version.
		version: u32,
	},
	/// A new mini-runtime measurement; on completion it is allowed everywhere and the one it
	/// replaces (if any) is removed from the allowlist.
	Measurement {
		/// The new measurement.
		new: Measurement,
		/// The measurement it replaces.
		replaces: Option<Measurement>,
	},
}

/// What at most one live rollout may hold at a time: an actor, or a measurement.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum RolloutKey {
	/// Any release of this actor.
	Actor(Name),
	/// This new measurement.
	Measurement(Measurement),
}

impl RolloutTarget {
	/// The key that keeps rollouts of the same actor or measurement from overlapping.
	pub fn key(&self) -> RolloutKey {
		match self {
			Self::Release { actor, .. } => RolloutKey::Actor(actor.clone()),
			Self::Measurement { new, .. } => RolloutKey::Measurement(*new),
		}
	}
}

/// How fast rollouts may go; governance tunes it.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	serde::Serialize,
	serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub struct RolloutTimings<BlockNumber> {
	/// Shortest wait of a tier: time for a node to fetch, load and attest. At least 1.
	pub min_tier_blocks: BlockNumber,
	/// Blocks between the last tier passing and the previous release/measurement retiring.
	pub grace_period: BlockNumber,
}

/// One tier of a rollout plan.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub struct Tier<BlockNumber> {
	/// Share of the nodes in this tier; the shares of a plan sum to 100%.
	pub share: Percent,
	/// Blocks the tier's nodes have to upgrade and prove it, before the health gate.
	pub wait: BlockNumber,
}

/// How a target rolls out: the tiers in order and the health threshold.
#[derive(
	CloneNoBound,
	PartialEqNoBound,
	EqNoBound,
	DebugNoBound,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
#[scale_info(skip_type_params(MaxTiers))]
#[codec(mel_bound(BlockNumber: MaxEncodedLen))]
pub struct RolloutPlan<BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug, MaxTiers: Get<u32>> {
	/// The tiers, opened one after the other.
	pub tiers: BoundedVec<Tier<BlockNumber>, MaxTiers>,
	/// Highest failure rate among the nodes of the opened tiers at which the next tier still
	/// opens; above it the rollout freezes.
	pub max_failure: Percent,
}

/// A tier of a running rollout and its tallies.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub struct TierProgress<BlockNumber> {
	/// The tier as planned.
	pub tier: Tier<BlockNumber>,
	/// Nodes assigned to it.
	pub nodes: u32,
	/// Nodes that proved they run the target.
	pub upgraded: u32,
	/// Nodes that failed: a failed attestation or heartbeat, or a missed deadline.
	pub failed: u32,
}

/// Where a rollout stands.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum RolloutState<BlockNumber> {
	/// Tier `tier` (from 0) is open; its nodes' proofs count up to and including block
	/// `deadline`, and the health gate runs at the start of the next block.
	Running {
		/// The highest open tier.
		tier: u32,
		/// The last block of the tier.
		deadline: BlockNumber,
	},
	/// The gate failed at `tier`, or the committee froze the rollout before it; the committee
	/// resumes or rolls back.
	Frozen {
		/// The highest open tier.
		tier: u32,
		/// Failure rate among the opened tiers' nodes when it froze.
		failure_rate: Perbill,
		/// The tier's deadline if the committee froze it before its gate ran: resuming
		/// continues the tier (and runs its gate). `None` when the gate froze it: resuming
		/// opens the next tier.
		deadline: Option<BlockNumber>,
	},
	/// Every tier passed; the previous release/measurement stays usable up to and including
	/// block `until`, and the committee may still roll back.
	Grace {
		/// The last block of the grace period.
		until: BlockNumber,
	},
	/// Done: the target is active everywhere.
	Completed,
	/// Rolled back: every node returned to the previous release/measurement.
	RolledBack,
	/// The release was revoked during its rollout: nothing to roll out any more.
	Cancelled,
}

impl<BlockNumber> RolloutState<BlockNumber> {
	/// Whether the rollout still needs the chain's attention.
	pub fn is_live(&self) -> bool {
		!matches!(self, Self::Completed | Self::RolledBack | Self::Cancelled)
	}

	/// The highest open tier; every tier during the grace period.
	pub fn open_tier(&self) -> Option<u32> {
		match self {
			Self::Running { tier, .. } | Self::Frozen { tier, .. } => Some(*tier),
			Self::Grace { .. } | Self::Completed => Some(u32::MAX),
			Self::RolledBack | Self::Cancelled => None,
		}
	}
}

/// A rollout.
#[derive(
	CloneNoBound,
	PartialEqNoBound,
	EqNoBound,
	DebugNoBound,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
#[scale_info(skip_type_params(MaxTiers))]
#[codec(mel_bound(BlockNumber: MaxEncodedLen))]
pub struct Rollout<BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug, MaxTiers: Get<u32>> {
	/// What is rolled out.
	pub target: RolloutTarget,
	/// The tiers and their tallies.
	pub tiers: BoundedVec<TierProgress<BlockNumber>, MaxTiers>,
	/// The plan's health threshold.
	pub max_failure: Percent,
	/// Where it stands.
	pub state: RolloutState<BlockNumber>,
	/// Block at which the committee approved it.
	pub started_at: BlockNumber,
	/// `blake2_256` of the parent block hash at approval: the seed of the tier assignment.
	pub seed: H256,
}

impl<BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug, MaxTiers: Get<u32>>
	Rollout<BlockNumber, MaxTiers>
{
	/// Failure rate among the nodes of tiers `0..=tier`: failed / assigned (0 with no nodes).
	pub fn failure_rate(&self, tier: u32) -> Perbill {
		let (nodes, failed) = self
			.tiers
			.iter()
			.take((tier as usize).saturating_add(1))
			.fold((0u32, 0u32), |(n, f), t| {
				(n.saturating_add(t.nodes), f.saturating_add(t.failed))
			});
		if nodes == 0 {
			Perbill::zero()
		} else {
			Perbill::from_rational(failed, nodes)
		}
	}
}

/// What a node of a rollout has done so far.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub enum NodeUpgrade {
	/// Its tier is not open yet, or it has not proved the upgrade yet.
	Pending,
	/// It proved with an attestation that it runs the target.
	Upgraded,
	/// It failed an attestation or a heartbeat after its tier opened.
	Failed,
	/// Its tier's deadline passed before it proved the upgrade.
	MissedDeadline,
}

/// A node's place in a rollout.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub struct Assignment {
	/// Its tier, from 0.
	pub tier: u32,
	/// What it has done.
	pub status: NodeUpgrade,
}

/// Whether a measurement may be attested.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub enum MeasurementStatus {
	/// Accepted from every node.
	Allowed,
	/// Being rolled out: accepted only from the nodes of the opened tiers of this rollout.
	Rolling(RolloutId),
}

/// The node registry as rollouts see it (implemented by the nodes pallet).
pub trait NodeSet<NodeId> {
	/// The nodes that take part in rollouts (active and probationary), without duplicates.
	fn rollout_nodes() -> alloc::vec::Vec<NodeId>;

	/// Evidence: `node` did not prove its upgrade before its tier's deadline.
	fn missed_upgrade_deadline(node: &NodeId, rollout: RolloutId);

	/// Benchmarks only: make `nodes` the rollout nodes.
	#[cfg(feature = "runtime-benchmarks")]
	fn set_for_benchmark(nodes: alloc::vec::Vec<NodeId>);
}

/// No node registry: rollouts have no nodes and pass each tier at its deadline. Benchmark
/// builds keep the benchmark's nodes in a well-known storage key, so that the weights are
/// measured with nodes even before a registry exists.
impl<NodeId: Encode + Decode> NodeSet<NodeId> for () {
	fn rollout_nodes() -> alloc::vec::Vec<NodeId> {
		#[cfg(feature = "runtime-benchmarks")]
		if let Some(nodes) = frame_support::storage::unhashed::get(BENCHMARK_NODES_KEY) {
			return nodes;
		}
		alloc::vec::Vec::new()
	}

	fn missed_upgrade_deadline(_: &NodeId, _: RolloutId) {}

	#[cfg(feature = "runtime-benchmarks")]
	fn set_for_benchmark(nodes: alloc::vec::Vec<NodeId>) {
		frame_support::storage::unhashed::put(BENCHMARK_NODES_KEY, &nodes);
	}
}

/// Where `()`'s [`NodeSet`] keeps the benchmark's nodes.
#[cfg(feature = "runtime-benchmarks")]
const BENCHMARK_NODES_KEY: &[u8] = b":tea:upgrades:benchmark-nodes";

/// Health signals from attestation (implemented by this pallet, called by the attestation
/// pallet).
pub trait RolloutSignals<NodeId> {
	/// `node` proved with a valid attestation that it runs `target` (for a measurement only
	/// `new` is compared: a quote proves the digest, not what it replaced).
	fn note_upgraded(node: &NodeId, target: &RolloutTarget);
	/// `node` failed an attestation or missed a heartbeat.
	fn note_failure(node: &NodeId);
}

/// The allowlists attestation checks (implemented by this pallet).
pub trait Allowlists<NodeId> {
	/// Whether a quote over `measurement` from `node` is acceptable now.
	fn measurement_allowed(node: &NodeId, measurement: &Measurement) -> bool;
	/// Whether governance ever allowed or rolled out `measurement` (it may be removed since).
	fn measurement_ever_allowed(measurement: &Measurement) -> bool;
	/// Whether `node` may have loaded release `version` of `actor` as far as rollouts go:
	/// `false` only while that very release rolls out and `node` is not assigned to an
	/// opened tier of its rollout (the rule workers load rolling releases by).
	fn release_tier_open(node: &NodeId, actor: &Name, version: u32) -> bool;
	/// Whether `key` is an allowed TPM vendor CA key.
	fn ca_key_allowed(key: &[u8]) -> bool;
	/// Allows `measurement` everywhere, for other pallets' benchmarks.
	#[cfg(feature = "runtime-benchmarks")]
	fn allow_for_benchmark(measurement: Measurement);
	/// Starts a rollout of release `version` of `actor` whose open tier holds `node` (the
	/// worst case of [`Self::release_tier_open`]), for other pallets' benchmarks.
	#[cfg(feature = "runtime-benchmarks")]
	fn roll_release_for_benchmark(node: &NodeId, actor: &Name, version: u32);
}

/// Checks that `key` is one DER `SEQUENCE` (tag `0x30`, definite length) covering all of `key`
/// and holding at least the algorithm identifier and the key bit string.
pub fn well_formed_der_sequence(key: &[u8]) -> bool {
	let [0x30, first, rest @ ..] = key else { return false };
	let (len, body) = match *first {
		n if n < 0x80 => (n as usize, rest),
		0x81 => match rest {
			[n, body @ ..] if *n >= 0x80 => (*n as usize, body),
			_ => return false,
		},
		0x82 => match rest {
			[hi, lo, body @ ..] if *hi != 0 => (((*hi as usize) << 8) | *lo as usize, body),
			_ => return false,
		},
		_ => return false,
	};
	// The shortest SubjectPublicKeyInfo: an algorithm identifier and a bit string.
	len == body.len() && len >= 16
}
