//! The genesis presets, built the way the node builds them: by calling the runtime's
//! `GenesisBuilder` API inside the compiled Wasm, then reading the resulting state natively.

use frame_support::traits::Get as _;
use sc_chain_spec::GenesisConfigBuilderRuntimeCaller;
use sp_keyring::Sr25519Keyring;
use tea_runtime::{
	genesis_config_presets::ENDOWMENT, AccountId, Balances, BuildStorage as _, Runtime, MINUTES,
	WASM_BINARY,
};

fn preset_state(name: &str) -> sp_io::TestExternalities {
	let wasm = WASM_BINARY.expect("the runtime's Wasm is built by build.rs");
	let caller = GenesisConfigBuilderRuntimeCaller::<sp_io::SubstrateHostFunctions>::new(wasm);
	let storage = caller
		.get_storage_for_named_preset(Some(&name.to_string()))
		.unwrap_or_else(|e| panic!("preset {name} does not build: {e}"));
	sp_io::TestExternalities::new(storage)
}

fn alice() -> AccountId {
	Sr25519Keyring::Alice.to_account_id()
}

#[test]
fn wasm_lists_exactly_the_two_presets() {
	let wasm = WASM_BINARY.unwrap();
	let caller = GenesisConfigBuilderRuntimeCaller::<sp_io::SubstrateHostFunctions>::new(wasm);
	let mut names: Vec<String> = caller.preset_names().unwrap().into_iter().collect();
	names.sort();
	assert_eq!(names, vec!["development".to_string(), "local_testnet".to_string()]);
}

#[test]
fn development_preset_has_alice_as_sole_validator_and_sudo() {
	preset_state("development").execute_with(|| {
		let aura = pallet_aura::Authorities::<Runtime>::get();
		assert_eq!(aura.len(), 1);
		assert_eq!(aura[0], Sr25519Keyring::Alice.public().into());
		let grandpa = pallet_grandpa::Pallet::<Runtime>::grandpa_authorities();
		assert_eq!(grandpa.len(), 1);
		assert_eq!(pallet_sudo::Key::<Runtime>::get(), Some(alice()));
		assert_eq!(Balances::free_balance(alice()), ENDOWMENT);
		assert_eq!(Balances::free_balance(Sr25519Keyring::Bob.to_account_id()), ENDOWMENT);
		assert_eq!(
			pallet_tea_upgrades::Timings::<Runtime>::get(),
			tea_runtime::genesis_config_presets::DEV_ROLLOUT_TIMINGS,
			"rollouts are fast on the dev chain"
		);
		// Blocks every 2 s: Aura's slot and the timestamp's minimum period follow the genesis.
		assert_eq!(tea_runtime::BlockTime::slot_duration(), 2_000);
		assert_eq!(pallet_aura::Pallet::<Runtime>::slot_duration(), 2_000);
		assert_eq!(<Runtime as pallet_timestamp::Config>::MinimumPeriod::get(), 1_000);
		// Quotes are judged by the development policy: dev-boot values in PCRs 0-7, the event
		// log in PCR 13.
		assert_eq!(
			pallet_tea_attestation::Policy::<Runtime>::get(),
			Some(tea_primitives::evidence::dev_policy())
		);
		// Rewards: 20-block eras that mint; the pot holds its existential deposit.
		assert_eq!(
			pallet_tea_rewards::Params::<Runtime>::get(),
			tea_runtime::genesis_config_presets::DEV_REWARDS
		);
		assert_eq!(
			Balances::free_balance(tea_runtime::Rewards::pot()),
			tea_runtime::EXISTENTIAL_DEPOSIT
		);
		tea_runtime::Rewards::do_try_state().unwrap();
	});
}

#[test]
fn local_preset_has_three_validators_and_no_sudo() {
	preset_state("local_testnet").execute_with(|| {
		let aura = pallet_aura::Authorities::<Runtime>::get();
		let expected: Vec<sp_consensus_aura::sr25519::AuthorityId> =
			[Sr25519Keyring::Alice, Sr25519Keyring::Bob, Sr25519Keyring::Charlie]
				.iter()
				.map(|k| k.public().into())
				.collect();
		assert_eq!(aura.into_inner(), expected);
		assert_eq!(pallet_grandpa::Pallet::<Runtime>::grandpa_authorities().len(), 3);
		assert_eq!(pallet_sudo::Key::<Runtime>::get(), None, "sudo is for the dev chain only");
		assert_eq!(Balances::free_balance(Sr25519Keyring::Charlie.to_account_id()), ENDOWMENT);
		let timings = pallet_tea_upgrades::Timings::<Runtime>::get();
		assert_eq!((timings.min_tier_blocks, timings.grace_period), (MINUTES, 10 * MINUTES));
		// The default block time, unset in storage.
		assert_eq!(tea_runtime::block_time::SlotDuration::<Runtime>::get(), None);
		assert_eq!(pallet_aura::Pallet::<Runtime>::slot_duration(), tea_runtime::SLOT_DURATION);
		assert_eq!(tea_runtime::SLOT_DURATION, 6_000);
		assert_eq!(
			pallet_tea_rewards::Params::<Runtime>::get(),
			tea_runtime::genesis_config_presets::LOCAL_REWARDS
		);
		assert_eq!(
			pallet_tea_attestation::Policy::<Runtime>::get(),
			Some(tea_primitives::evidence::dev_policy())
		);
	});
}

#[test]
fn a_genesis_with_an_unusable_block_time_does_not_build() {
	// An odd or too short slot would produce no block: the genesis is refused, not the chain
	// halted later.
	for ms in [0, 999, 1_000, 1_998, 2_001, 60_002, u64::MAX] {
		let config = tea_runtime::RuntimeGenesisConfig {
			block_time: tea_runtime::block_time::GenesisConfig {
				slot_duration: Some(ms),
				..Default::default()
			},
			..Default::default()
		};
		let built = std::panic::catch_unwind(|| config.build_storage());
		assert!(built.is_err(), "{ms} ms must be refused");
	}
	let config = tea_runtime::RuntimeGenesisConfig {
		block_time: tea_runtime::block_time::GenesisConfig {
			slot_duration: Some(60_000),
			..Default::default()
		},
		..Default::default()
	};
	let mut state = sp_io::TestExternalities::new(config.build_storage().unwrap());
	state.execute_with(|| assert_eq!(pallet_aura::Pallet::<Runtime>::slot_duration(), 60_000));
}

#[test]
fn unknown_preset_is_refused() {
	let wasm = WASM_BINARY.unwrap();
	let caller = GenesisConfigBuilderRuntimeCaller::<sp_io::SubstrateHostFunctions>::new(wasm);
	assert!(caller.get_storage_for_named_preset(Some(&"mainnet".to_string())).is_err());
}

#[test]
fn native_default_genesis_builds() {
	// The runtime's default genesis (no preset) must also be a valid state.
	let storage = tea_runtime::RuntimeGenesisConfig::default().build_storage().unwrap();
	assert!(!storage.top.is_empty());
}
