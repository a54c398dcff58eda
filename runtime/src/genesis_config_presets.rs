//! Genesis presets: `development` (one validator, Alice, with sudo) and `local_testnet`
//! (Alice, Bob and Charlie validate together; no sudo key).
//!
//! The node's chain specs name these presets; `scripts/chain-specs.sh` renders them into
//! `chain-specs/`.

use crate::{
	AccountId, ActorsConfig, AttestationConfig, BalancesConfig, BlockNumber, ElectionsConfig,
	NodesConfig, RewardsConfig, RuntimeGenesisConfig, SudoConfig, UpgradesConfig, UNIT,
};
use alloc::{string::String, vec, vec::Vec};
use frame_support::build_struct_json_patch;
use pallet_tea_actors::GenesisProvider;
use pallet_tea_upgrades::RolloutTimings;
use serde_json::Value;
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_consensus_grandpa::AuthorityId as GrandpaId;
use sp_genesis_builder::{self, PresetId};
use sp_keyring::{Ed25519Keyring, Sr25519Keyring};
use tea_primitives::{cid::ContentId, manifest::Limits};

/// Balance given to every endowed development account.
pub const ENDOWMENT: crate::Balance = 1_000_000 * UNIT;
/// Stake with which each seeded committee member backs itself.
pub const COMMITTEE_STAKE: crate::Balance = 10_000 * UNIT;

/// The committee both presets start with: Alice, Bob and Charlie.
fn committee() -> Vec<(AccountId, crate::Balance)> {
	[Sr25519Keyring::Alice, Sr25519Keyring::Bob, Sr25519Keyring::Charlie]
		.iter()
		.map(|k| (k.to_account_id(), COMMITTEE_STAKE))
		.collect()
}

/// The built-in providers of `tea-worker` and their operations (ABI v1). Their CID is that of
/// their interface name and version until providers ship as separate artifacts.
fn builtin_providers() -> Vec<GenesisProvider> {
	[
		("tea:keyvalue", &["get", "put", "delete"][..]),
		("tea:log", &["write"]),
		("tea:random", &["bytes"]),
		("tea:blob", &["read"]),
		("tea:message", &["send"]),
	]
	.into_iter()
	.map(|(name, operations)| GenesisProvider {
		name: name.into(),
		cid: ContentId::of(alloc::format!("{name}/v1").as_bytes()).to_text(),
		operations: operations.iter().map(|op| String::from(*op)).collect(),
		schema_version: 1,
	})
	.collect()
}

fn testnet_genesis(
	initial_authorities: Vec<(AuraId, GrandpaId)>,
	endowed_accounts: Vec<AccountId>,
	root: Option<AccountId>,
	required_approvals: u32,
	rollout_timings: Option<RolloutTimings<BlockNumber>>,
	birth_control: Option<pallet_tea_nodes::BirthControl<BlockNumber>>,
	slot_duration: Option<u64>,
	rewards: RewardParams,
) -> Value {
	build_struct_json_patch!(RuntimeGenesisConfig {
		balances: BalancesConfig {
			balances: endowed_accounts.iter().cloned().map(|k| (k, ENDOWMENT)).collect::<Vec<_>>(),
		},
		aura: pallet_aura::GenesisConfig {
			authorities: initial_authorities.iter().map(|x| x.0.clone()).collect::<Vec<_>>(),
		},
		grandpa: pallet_grandpa::GenesisConfig {
			authorities: initial_authorities.iter().map(|x| (x.1.clone(), 1)).collect::<Vec<_>>(),
		},
		sudo: SudoConfig { key: root },
		block_time: crate::block_time::GenesisConfig { slot_duration },
		elections: ElectionsConfig { members: committee() },
		actors: ActorsConfig {
			providers: builtin_providers(),
			grant_limits: Some(Limits { max_memory_pages: 256, max_fuel_per_call: 1_000_000_000 }),
			required_approvals,
		},
		upgrades: UpgradesConfig { timings: rollout_timings },
		nodes: NodesConfig { trusted: dev_trusted_nodes(), params: birth_control },
		attestation: AttestationConfig {
			heartbeats: Some(DEV_HEARTBEATS),
			policy: Some(tea_primitives::evidence::dev_policy().pcrs.into_inner()),
		},
		rewards: RewardsConfig { params: Some(rewards) },
	})
}

/// The dev and local chains' trusted genesis nodes, operated by Alice, Bob and Charlie: EK
/// `"dev EK <name>"`, the well-known development attestation keys 1, 2, 3
/// (`tea_primitives::tpm::dev_attestation_key`) and libp2p peer ids
/// (`tea_primitives::tpm::DEV_PEER_IDS`, `tea-worker --p2p-key dev:<Name>`). They sit on
/// admission committees.
fn dev_trusted_nodes() -> Vec<(AccountId, Vec<u8>, Vec<u8>, Vec<u8>)> {
	[Sr25519Keyring::Alice, Sr25519Keyring::Bob, Sr25519Keyring::Charlie]
		.into_iter()
		.zip(1u64..)
		.zip(tea_primitives::tpm::DEV_PEER_IDS)
		.map(|((who, k), peer)| {
			let ek = alloc::format!("dev EK {who:?}").into_bytes();
			let ak = tea_primitives::tpm::dev_attestation_key(k).to_vec();
			(who.to_account_id(), ek, ak, peer.to_vec())
		})
		.collect()
}

/// Heartbeats on the dev and local chains: every 4 hours, evidence after a day, so that the
/// genesis nodes (which have no TPM behind them) stay trusted for a day of testing.
pub const DEV_HEARTBEATS: pallet_tea_attestation::HeartbeatRules<BlockNumber> =
	pallet_tea_attestation::HeartbeatRules { period: 4 * crate::HOURS, max_missed: 6 };

fn authority(who: Sr25519Keyring) -> (AuraId, GrandpaId) {
	let ed = match who {
		Sr25519Keyring::Alice => Ed25519Keyring::Alice,
		Sr25519Keyring::Bob => Ed25519Keyring::Bob,
		Sr25519Keyring::Charlie => Ed25519Keyring::Charlie,
		Sr25519Keyring::Dave => Ed25519Keyring::Dave,
		Sr25519Keyring::Eve => Ed25519Keyring::Eve,
		_ => Ed25519Keyring::Ferdie,
	};
	(who.public().into(), ed.public().into())
}

fn well_known_accounts() -> Vec<AccountId> {
	Sr25519Keyring::iter()
		.filter(|v| v != &Sr25519Keyring::One && v != &Sr25519Keyring::Two)
		.map(|v| v.to_account_id())
		.collect()
}

/// Rollouts on the dev chain: two-block tiers and grace period, so that a release goes from
/// approval to `Active` in seconds.
pub const DEV_ROLLOUT_TIMINGS: RolloutTimings<BlockNumber> =
	RolloutTimings { min_tier_blocks: 2, grace_period: 2 };

/// Birth control on the dev chain: 2-block (4-second) epochs and one clean epoch of
/// probation, so that a new worker is active within a minute of registering (the 10-block
/// admission review, then a few epoch boundaries while birth control lets the probationary
/// nodes in one by one); 100 blocks to appeal, room for an appeal committee.
pub const DEV_BIRTH_CONTROL: pallet_tea_nodes::BirthControl<BlockNumber> =
	pallet_tea_nodes::BirthControl {
		epoch_length: 2,
		max_admissions_per_epoch: 2,
		probation_epochs: 1,
		appeal_window: 10 * crate::MINUTES,
		reporter_share: sp_runtime::Perbill::from_percent(10),
	};

/// The reward rules of the runtime's presets.
pub type RewardParams = pallet_tea_rewards::RewardParams<BlockNumber, crate::Balance>;

/// Rewards on the dev chain: 20-block (40-second) eras that mint 1 000 UNIT each (claims of
/// an era open two eras after it began), a quote counted at most every 10 blocks, a work
/// point per unit of fuel (the example actors' tasks burn a few), at most 2 048 receipts an era
/// and 512 per node.
pub const DEV_REWARDS: RewardParams = RewardParams {
	era_length: 20,
	source: pallet_tea_rewards::RewardSource::Inflation(crate::configs::rewards::DEV_ERA_REWARD),
	heartbeat_points: 100,
	beat_interval: 10,
	duty_points: 100,
	fuel_per_point: 1,
	client_cap: 1_000,
	probation: sp_runtime::Perbill::from_percent(50),
	max_receipts: 2_048,
	node_receipts: 512,
};

/// Rewards on the local testnet: hour-long eras, otherwise the dev chain's rules.
pub const LOCAL_REWARDS: RewardParams = RewardParams { era_length: crate::HOURS, ..DEV_REWARDS };

/// Milliseconds per block on the dev chain: a third of the default, so that every timing
/// counted in blocks passes three times faster.
pub const DEV_SLOT_DURATION: u64 = 2_000;

/// The development genesis: Alice alone validates and holds the sudo key; blocks every 2 s,
/// rollouts and birth control are fast.
pub fn development_config_genesis() -> Value {
	testnet_genesis(
		vec![authority(Sr25519Keyring::Alice)],
		well_known_accounts(),
		Some(Sr25519Keyring::Alice.to_account_id()),
		1,
		Some(DEV_ROLLOUT_TIMINGS),
		Some(DEV_BIRTH_CONTROL),
		Some(DEV_SLOT_DURATION),
		DEV_REWARDS,
	)
}

/// The local testnet genesis: Alice, Bob and Charlie validate; sudo is disabled.
pub fn local_config_genesis() -> Value {
	testnet_genesis(
		vec![
			authority(Sr25519Keyring::Alice),
			authority(Sr25519Keyring::Bob),
			authority(Sr25519Keyring::Charlie),
		],
		well_known_accounts(),
		None,
		2,
		None,
		None,
		None,
		LOCAL_REWARDS,
	)
}

/// The JSON patch of the preset `id`, if it exists.
pub fn get_preset(id: &PresetId) -> Option<Vec<u8>> {
	let patch = match id.as_ref() {
		sp_genesis_builder::DEV_RUNTIME_PRESET => development_config_genesis(),
		sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET => local_config_genesis(),
		_ => return None,
	};
	// Serialising a `serde_json::Value` cannot fail: it holds no non-string map keys.
	serde_json::to_string(&patch).ok().map(String::into_bytes)
}

/// The presets this runtime offers.
pub fn preset_names() -> Vec<PresetId> {
	vec![
		PresetId::from(sp_genesis_builder::DEV_RUNTIME_PRESET),
		PresetId::from(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET),
	]
}
