//! The built-in chain specs. Both name a genesis preset of the runtime
//! (`tea_runtime::genesis_config_presets`); the JSON files in `chain-specs/` are rendered from
//! these by `scripts/chain-specs.sh` and must stay identical to them.

use sc_service::{ChainType, Properties};
use tea_runtime::WASM_BINARY;

/// The chain spec type of this node: generic, with the runtime's genesis built by presets.
pub type ChainSpec = sc_service::GenericChainSpec;

fn properties() -> Properties {
	let mut p = Properties::new();
	p.insert("tokenSymbol".into(), "TEA".into());
	p.insert("tokenDecimals".into(), 12.into());
	p.insert("ss58Format".into(), 42.into());
	p
}

fn wasm() -> Result<&'static [u8], String> {
	WASM_BINARY.ok_or_else(|| {
		"the runtime's Wasm binary was not built (SKIP_WASM_BUILD was set?): run scripts/setup.sh \
		 and rebuild"
			.to_string()
	})
}

/// `--dev`: a single validator (Alice) with sudo.
pub fn development_chain_spec() -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(wasm()?, None)
		.with_name("TEA Development")
		.with_id("tea_dev")
		.with_chain_type(ChainType::Development)
		.with_genesis_config_preset_name(sp_genesis_builder::DEV_RUNTIME_PRESET)
		.with_properties(properties())
		.build())
}

/// `--chain local`: Alice, Bob and Charlie validate and finalize together.
pub fn local_chain_spec() -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(wasm()?, None)
		.with_name("TEA Local Testnet")
		.with_id("tea_local")
		.with_chain_type(ChainType::Local)
		.with_genesis_config_preset_name(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET)
		.with_properties(properties())
		.build())
}
