//! Bad input on `tea-node`'s command line: one clear error line, non-zero exit, no panic.

use std::process::{Command, Output};

const NODE: &str = env!("CARGO_BIN_EXE_tea-node");

fn run(args: &[&str]) -> Output {
	Command::new(NODE).args(args).output().expect("tea-node runs")
}

fn assert_one_line_error(out: &Output, expected: &str) {
	assert!(!out.status.success(), "expected failure");
	let stderr = String::from_utf8_lossy(&out.stderr);
	assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
	assert!(stderr.starts_with("error: "), "{stderr}");
	assert!(stderr.contains(expected), "{stderr}");
	assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unknown_chain_is_one_clear_error_line() {
	let out = run(&["export-chain-spec", "--chain", "mainnet-typo"]);
	assert_one_line_error(&out, "unknown chain 'mainnet-typo': use `--chain dev`, `--chain local`");
}

#[test]
fn malformed_chain_spec_file_is_reported() {
	let dir = std::env::temp_dir().join(format!("tea-bad-spec-{}", std::process::id()));
	std::fs::create_dir_all(&dir).unwrap();
	let bad = dir.join("bad.json");
	std::fs::write(&bad, b"{ not json").unwrap();
	let out = Command::new(NODE).args(["export-chain-spec", "--chain"]).arg(&bad).output().unwrap();
	std::fs::remove_dir_all(&dir).ok();
	assert!(!out.status.success());
	let stderr = String::from_utf8_lossy(&out.stderr);
	assert!(stderr.contains("invalid chain spec file"), "{stderr}");
	assert!(!stderr.contains("panicked"), "{stderr}");
}

#[cfg(not(feature = "runtime-benchmarks"))]
#[test]
fn benchmark_without_the_feature_says_how_to_get_it() {
	let out = run(&["benchmark", "pallet", "--pallet", "pallet_balances", "--extrinsic", "*"]);
	assert_one_line_error(&out, "--features runtime-benchmarks");
}
