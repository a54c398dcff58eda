//! The committed chain specs in `chain-specs/` are exactly what this node renders from the
//! runtime's genesis presets.

use std::{path::PathBuf, process::Command};

const NODE: &str = env!("CARGO_BIN_EXE_tea-node");

fn repo_file(name: &str) -> PathBuf {
	PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("chain-specs").join(name)
}

fn export(chain: &str, raw: bool) -> String {
	let mut cmd = Command::new(NODE);
	cmd.args(["export-chain-spec", "--chain", chain]);
	if raw {
		cmd.arg("--raw");
	}
	let out = cmd.output().expect("tea-node runs");
	assert!(out.status.success(), "export-chain-spec failed: {}", String::from_utf8_lossy(&out.stderr));
	String::from_utf8(out.stdout).expect("chain spec is UTF-8")
}

fn assert_up_to_date(chain: &str, raw: bool) {
	let file = if raw { format!("{chain}-raw.json") } else { format!("{chain}.json") };
	let committed = std::fs::read_to_string(repo_file(&file))
		.unwrap_or_else(|e| panic!("chain-specs/{file} missing ({e}): run scripts/chain-specs.sh"));
	let rendered = export(chain, raw);
	let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).expect("valid JSON");
	assert!(
		parse(&committed) == parse(&rendered),
		"chain-specs/{file} is out of date with the runtime: run scripts/chain-specs.sh and commit"
	);
}

#[test]
fn dev_chain_spec_is_up_to_date() {
	assert_up_to_date("dev", false);
	assert_up_to_date("dev", true);
}

#[test]
fn local_chain_spec_is_up_to_date() {
	assert_up_to_date("local", false);
	assert_up_to_date("local", true);
}

#[test]
fn committed_spec_files_load_as_chains() {
	// A path to a committed spec is a valid --chain: the node builds its genesis from it.
	for file in ["dev.json", "local-raw.json"] {
		let out = Command::new(NODE)
			.args(["export-chain-spec", "--raw", "--chain"])
			.arg(repo_file(file))
			.output()
			.unwrap();
		assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
	}
}
