//! `tea-worker actor pack|sign|inspect|run` as a developer uses them, on the real binary.

mod common;

use common::*;
use std::{path::Path, process::Command};
use tea_primitives::ContentId;
use tea_worker::grants::{ManifestJson, SignedManifestJson};

fn worker(args: &[&str], data: &Path) -> (bool, String, String) {
	let out = Command::new(env!("CARGO_BIN_EXE_tea-worker"))
		.args(args)
		.env("TEA_DATA_DIR", data)
		.env_remove("TEA_DEVELOPER_KEY")
		.output()
		.unwrap();
	(
		out.status.success(),
		String::from_utf8_lossy(&out.stdout).into_owned(),
		String::from_utf8_lossy(&out.stderr).into_owned(),
	)
}

#[test]
fn pack_sign_inspect_and_run_a_counter() {
	let dir = tempfile::tempdir().unwrap();
	let data = dir.path().join("data");
	let wasm = dir.path().join("counter.wasm");
	std::fs::write(&wasm, actor_bytes("counter")).unwrap();

	let (ok, cid, err) = worker(&["actor", "pack", wasm.to_str().unwrap()], &data);
	assert!(ok, "{err}");
	let cid = cid.trim().to_string();
	assert_eq!(cid, ContentId::of(&actor_bytes("counter")).to_text());

	let manifest = ManifestJson {
		developer: None,
		actor: "counter".into(),
		version: 1,
		cid: cid.clone(),
		grants: vec![grant("tea:keyvalue", &["get"], limits(16, 10_000_000), None)],
	};
	let manifest_path = dir.path().join("manifest.json");
	std::fs::write(&manifest_path, serde_json::to_string(&manifest).unwrap()).unwrap();
	let signed_path = dir.path().join("signed.json");
	let (ok, _, err) = worker(
		&[
			"actor",
			"sign",
			"--manifest",
			manifest_path.to_str().unwrap(),
			"--key",
			"//Alice",
			"--out",
			signed_path.to_str().unwrap(),
		],
		&data,
	);
	assert!(ok, "{err}");
	let signed =
		SignedManifestJson::from_json(&std::fs::read_to_string(&signed_path).unwrap()).unwrap();
	let (verified, _) = signed.verify().unwrap();
	assert_eq!(verified.developer, sp_keyring::Sr25519Keyring::Alice.to_account_id());

	// Only `get` is granted: inspect says `put` is missing and fails.
	let (ok, out, err) =
		worker(&["actor", "inspect", &cid, "--manifest", signed_path.to_str().unwrap()], &data);
	assert!(!ok);
	assert!(out.contains("tea:keyvalue/get  granted"), "{out}");
	assert!(out.contains("tea:keyvalue/put  NOT GRANTED"), "{out}");
	assert!(err.contains("1 required operation(s) are not granted"), "{err}");
	// Running it: `put` is refused, the actor reports it, a security event is printed.
	let (ok, out, err) =
		worker(&["actor", "run", &cid, "--manifest", signed_path.to_str().unwrap()], &data);
	assert!(ok, "{err}");
	assert_eq!(out.trim(), "error -1");
	assert!(err.contains("security: Refused"), "{err}");

	// Grant both and re-sign: it counts, persistently across processes.
	let mut manifest = manifest;
	manifest.grants[0].operations.push("put".into());
	std::fs::write(&manifest_path, serde_json::to_string(&manifest).unwrap()).unwrap();
	let (ok, text, err) = worker(
		&["actor", "sign", "--manifest", manifest_path.to_str().unwrap(), "--key", "//Alice"],
		&data,
	);
	assert!(ok, "{err}");
	std::fs::write(&signed_path, text).unwrap();
	let (ok, out, _) = worker(
		&["actor", "inspect", wasm.to_str().unwrap(), "--manifest", signed_path.to_str().unwrap()],
		&data,
	);
	assert!(ok, "{out}");
	for expected in ["1", "2"] {
		let (ok, out, err) =
			worker(&["actor", "run", &cid, "--manifest", signed_path.to_str().unwrap()], &data);
		assert!(ok, "{err}");
		assert_eq!(out.trim(), expected);
		assert!(err.contains("fuel used: "), "{err}");
	}
}

#[test]
fn bad_input_fails_with_one_clear_line() {
	let dir = tempfile::tempdir().unwrap();
	let data = dir.path();
	let (ok, _, err) = worker(&["actor", "pack", "/nonexistent.wasm"], data);
	assert!(!ok);
	assert!(err.starts_with("error: /nonexistent.wasm: "), "{err}");

	let (ok, _, err) = worker(&["actor", "inspect", "neither-file-nor-cid"], data);
	assert!(!ok);
	assert!(err.contains("is neither a file nor a CID"), "{err}");

	let garbage = dir.path().join("garbage.wasm");
	std::fs::write(&garbage, b"\0asm\x01\0\0\0garbage").unwrap();
	let (ok, out, _) = worker(&["actor", "inspect", garbage.to_str().unwrap()], data);
	assert!(!ok);
	assert!(out.contains("valid:   no: InvalidWasm"), "{out}");

	let manifest = dir.path().join("m.json");
	std::fs::write(&manifest, r#"{"actor": "x", "version": 1, "cid": "QmV0", "grants": []}"#)
		.unwrap();
	let (ok, _, err) = worker(
		&["actor", "sign", "--manifest", manifest.to_str().unwrap(), "--key", "//Alice"],
		data,
	);
	assert!(!ok);
	assert!(err.contains("invalid manifest field cid"), "{err}");

	// A signed manifest whose grants were edited afterwards does not run.
	let bytes = actor_bytes("nop");
	let cid = ContentId::of(&bytes).to_text();
	let json = ManifestJson {
		developer: None,
		actor: "nop".into(),
		version: 1,
		cid: cid.clone(),
		grants: vec![],
	};
	let mut signed = json.sign("//Alice").unwrap();
	signed.manifest.grants.push(grant("tea:log", &["write"], limits(1, 1), None));
	let signed_path = dir.path().join("forged.json");
	std::fs::write(&signed_path, serde_json::to_string(&signed).unwrap()).unwrap();
	let wasm = dir.path().join("nop.wasm");
	std::fs::write(&wasm, &bytes).unwrap();
	let (ok, _, err) = worker(
		&[
			"actor",
			"run",
			wasm.to_str().unwrap(),
			"hi",
			"--manifest",
			signed_path.to_str().unwrap(),
		],
		data,
	);
	assert!(!ok);
	assert!(err.contains("signature does not verify"), "{err}");
	assert_eq!(err.lines().count(), 1, "{err}");
}
