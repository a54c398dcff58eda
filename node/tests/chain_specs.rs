//! The committed chain specs in `chain-specs/` are what this node renders from the runtime's
//! genesis presets.
//!
//! "Up to date" means: every field, including the whole genesis state (for the raw forms: every
//! storage key and value), is identical, and the embedded runtime Wasm is a valid runtime with
//! the same name and versions as the one built from this checkout. The Wasm bytes themselves are
//! not compared: rustc lays out code by crate hashes that include the checkout's absolute path,
//! so two clones of the same commit build different (equivalent) blobs. A runtime change that
//! ships bumps `spec_version`, which this test catches.

use sc_executor_common::runtime_blob::RuntimeBlob;
use serde_json::Value;
use std::{path::PathBuf, process::Command};

const NODE: &str = env!("CARGO_BIN_EXE_tea-node");
/// `:code` in hex: where a raw chain spec keeps the runtime.
const CODE_KEY: &str = "0x3a636f6465";

fn repo_file(name: &str) -> PathBuf {
	PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("chain-specs").join(name)
}

fn export(chain: &str, raw: bool) -> Value {
	let mut cmd = Command::new(NODE);
	cmd.args(["export-chain-spec", "--chain", chain]);
	if raw {
		cmd.arg("--raw");
	}
	let out = cmd.output().expect("tea-node runs");
	assert!(
		out.status.success(),
		"export-chain-spec failed: {}",
		String::from_utf8_lossy(&out.stderr)
	);
	serde_json::from_slice(&out.stdout).expect("chain spec is JSON")
}

/// Takes the runtime code out of a chain spec, leaving the rest to compare.
fn take_code(spec: &mut Value) -> Vec<u8> {
	let genesis = &mut spec["genesis"];
	let code = if genesis.get("raw").is_some() {
		genesis["raw"]["top"].as_object_mut().expect("raw.top").remove(CODE_KEY)
	} else {
		genesis["runtimeGenesis"].as_object_mut().expect("runtimeGenesis").remove("code")
	};
	let hex = code.expect("chain spec has runtime code");
	let hex = hex.as_str().expect("code is a hex string").trim_start_matches("0x");
	(0..hex.len())
		.step_by(2)
		.map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("code is hex"))
		.collect()
}

fn version_of(code: &[u8]) -> sc_executor::RuntimeVersion {
	let blob = RuntimeBlob::uncompress_if_needed(code).expect("code is a Wasm runtime");
	sc_executor::read_embedded_version(&blob)
		.expect("readable version section")
		.expect("runtime embeds its version")
}

/// Why `committed` is not what the node renders now, if it is not.
fn staleness(mut committed: Value, mut rendered: Value) -> Result<(), &'static str> {
	let (committed_code, rendered_code) = (take_code(&mut committed), take_code(&mut rendered));
	if committed != rendered {
		return Err("genesis or properties differ");
	}
	let (c, r) = (version_of(&committed_code), version_of(&rendered_code));
	// The linker concatenates the `runtime_apis` section in an order that also varies with the
	// checkout path: the API set is what matters.
	let sorted = |apis: &[([u8; 8], u32)]| {
		let mut apis = apis.to_vec();
		apis.sort();
		apis
	};
	if (&c.spec_name, c.spec_version, c.impl_version, c.transaction_version, sorted(&c.apis))
		!= (&r.spec_name, r.spec_version, r.impl_version, r.transaction_version, sorted(&r.apis))
	{
		return Err("runtime version differs");
	}
	Ok(())
}

fn committed(file: &str) -> Value {
	let text = std::fs::read_to_string(repo_file(file))
		.unwrap_or_else(|e| panic!("chain-specs/{file} missing ({e}): run scripts/chain-specs.sh"));
	serde_json::from_str(&text).expect("committed spec is JSON")
}

fn assert_up_to_date(chain: &str, raw: bool) {
	let file = if raw { format!("{chain}-raw.json") } else { format!("{chain}.json") };
	if let Err(why) = staleness(committed(&file), export(chain, raw)) {
		panic!("chain-specs/{file} is out of date with the runtime ({why}): run scripts/chain-specs.sh and commit");
	}
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

#[test]
fn stale_specs_are_detected() {
	// The check is not vacuous: one changed balance, one changed storage value, or a runtime
	// with another version each make a committed spec stale.
	let mut balance = committed("dev.json");
	balance["genesis"]["runtimeGenesis"]["patch"]["balances"]["balances"][0][1] = Value::from(1u64);
	assert_eq!(staleness(balance, export("dev", false)), Err("genesis or properties differ"));

	let mut storage = committed("local-raw.json");
	let top = storage["genesis"]["raw"]["top"].as_object_mut().unwrap();
	let key = top.keys().find(|k| k.as_str() != CODE_KEY).unwrap().clone();
	top.insert(key, Value::from("0x00"));
	assert_eq!(staleness(storage, export("local", true)), Err("genesis or properties differ"));

	// Same genesis, but the committed code reports another spec_version.
	let mut old_runtime = committed("dev.json");
	let code = take_code(&mut old_runtime);
	let wasm = RuntimeBlob::uncompress_if_needed(&code).unwrap().serialize();
	let bumped = bump_spec_version(&wasm);
	let hex: String = bumped.iter().map(|b| format!("{b:02x}")).collect();
	old_runtime["genesis"]["runtimeGenesis"]["code"] = Value::from(format!("0x{hex}"));
	assert_eq!(staleness(old_runtime, export("dev", false)), Err("runtime version differs"));
}

/// `wasm` with its `runtime_version` custom section rewritten to `spec_version + 1`.
fn bump_spec_version(wasm: &[u8]) -> Vec<u8> {
	use codec::Encode;
	let mut version = version_of(wasm);
	version.spec_version += 1;
	replace_custom_section(wasm, "runtime_version", &version.encode())
}

/// A minimal Wasm rewriter: copies every section, replacing the named custom section's payload.
fn replace_custom_section(wasm: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
	fn leb(mut v: usize, out: &mut Vec<u8>) {
		loop {
			let byte = (v & 0x7f) as u8;
			v >>= 7;
			if v == 0 {
				out.push(byte);
				break;
			}
			out.push(byte | 0x80);
		}
	}
	fn read_leb(data: &[u8], pos: &mut usize) -> usize {
		let (mut result, mut shift) = (0usize, 0);
		loop {
			let byte = data[*pos];
			*pos += 1;
			result |= ((byte & 0x7f) as usize) << shift;
			if byte & 0x80 == 0 {
				return result;
			}
			shift += 7;
		}
	}
	let mut out = wasm[..8].to_vec();
	let mut pos = 8;
	while pos < wasm.len() {
		let id = wasm[pos];
		pos += 1;
		let size = read_leb(wasm, &mut pos);
		let body = &wasm[pos..pos + size];
		pos += size;
		let mut name_pos = 0;
		let is_target = id == 0 && {
			let len = read_leb(body, &mut name_pos);
			&body[name_pos..name_pos + len] == name.as_bytes()
		};
		out.push(id);
		if is_target {
			let mut new_body = Vec::new();
			leb(name.len(), &mut new_body);
			new_body.extend_from_slice(name.as_bytes());
			new_body.extend_from_slice(payload);
			leb(new_body.len(), &mut out);
			out.extend_from_slice(&new_body);
		} else {
			leb(size, &mut out);
			out.extend_from_slice(body);
		}
	}
	out
}
