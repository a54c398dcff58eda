//! `pallet_tea_upgrades`: committee-approved rollouts, the attestation allowlists and runtime
//! upgrades.

use super::*;
use crate::MINUTES;

impl pallet_tea_upgrades::Config for Runtime {
	/// Two thirds of the elected committee (or root, i.e. sudo on the dev chain).
	type GovernanceOrigin = super::governance::CommitteeOrRoot;
	type Releases = crate::Actors;
	/// The hash of the node's TPM endorsement key.
	type NodeId = sp_core::H256;
	/// Active and probationary nodes of `pallet_tea_nodes`.
	type Nodes = crate::Nodes;
	type MaxNodes = ConstU32<1024>;
	type MaxTiers = ConstU32<8>;
	type MaxLiveRollouts = ConstU32<16>;
	type MaxMeasurements = ConstU32<32>;
	type MaxCaKeys = ConstU32<64>;
	/// One minute at six-second blocks: time for a node to fetch, load and attest.
	type MinTierBlocks = ConstU32<{ MINUTES }>;
	/// The previous release stays usable for ten minutes after the last tier passes.
	type GracePeriod = ConstU32<{ 10 * MINUTES }>;
	/// Generated on this machine by `scripts/benchmark.sh`.
	type WeightInfo = crate::weights::pallet_tea_upgrades::WeightInfo<Runtime>;
}
