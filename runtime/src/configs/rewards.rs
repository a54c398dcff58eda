//! `pallet_tea_rewards`: era-based compute rewards for attested uptime, committee duty and
//! client-acknowledged work.

use super::*;
use crate::{HOURS, UNIT};

parameter_types! {
	/// The pot's account: `modl` ++ this id.
	pub const RewardsPalletId: frame_support::PalletId = frame_support::PalletId(*b"tea/rwds");
}

impl pallet_tea_rewards::Config for Runtime {
	type Currency = Balances;
	type Nodes = crate::Nodes;
	/// The releases receipts name, as the attestation pallet judges event logs by them.
	type Releases = super::nodes::LoggedReleases;
	/// Two thirds of the elected committee (or root, i.e. sudo on the dev chain) set the rules.
	type GovernanceOrigin = super::governance::CommitteeOrRoot;
	/// Clients acknowledge with the chain's own signatures (sr25519, ed25519, ECDSA).
	type Signature = sp_runtime::MultiSignature;
	type PalletId = RewardsPalletId;
	/// A day per era unless genesis or governance set another (the dev preset: 20 blocks).
	type EraLength = ConstU32<{ 24 * HOURS }>;
	/// Rewards stay claimable for 28 eras.
	type HistoryDepth = ConstU32<28>;
	/// 64 receipts per batch.
	type MaxBatch = ConstU32<64>;
	/// 100 000 receipts counted per era, over all nodes.
	type MaxReceiptsPerEra = ConstU32<100_000>;
	type WeightInfo = pallet_tea_rewards::weights::SubstrateWeight<Runtime>;
}

/// What the dev presets mint per era.
pub const DEV_ERA_REWARD: Balance = 1_000 * UNIT;
