//! Shared by the worker's integration tests: example actors built from source with the guest
//! SDK, and a runtime over a temporary data directory.

#![allow(dead_code)]

use std::{
	path::{Path, PathBuf},
	process::Command,
	sync::{Arc, OnceLock},
	time::Duration,
};
use tea_primitives::{manifest::Limits, ContentId};
use tea_worker::{
	grants::{GrantJson, LocalGrants, ManifestJson},
	providers::{Blob, KeyValue, Log, Provider, Random},
	runtime::{MiniRuntime, RuntimeConfig},
	store::ContentStore,
};

/// Returns its input: `tea_run(ptr, len)` answers `(ptr << 32) | len`.
pub const ECHO: &str = r#"(module (memory (export "memory") 1)
	(func (export "tea_alloc") (param i32) (result i32) i32.const 1024)
	(func (export "tea_run") (param i32 i32) (result i64)
		local.get 0 i64.extend_i32_u i64.const 32 i64.shl
		local.get 1 i64.extend_i32_u i64.or))"#;

/// Builds `tea-worker/actors` for wasm32v1-none once per test process; returns the .wasm dir.
pub fn actors_dir() -> &'static Path {
	static DIR: OnceLock<PathBuf> = OnceLock::new();
	DIR.get_or_init(|| {
		let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tea-actors");
		let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("actors/Cargo.toml");
		let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
		if let Ok(toolchain) = std::env::var("WASM_BUILD_TOOLCHAIN") {
			cargo = Command::new("rustup");
			cargo.args(["run", &toolchain, "cargo"]);
		}
		let status = cargo
			.args(["build", "--quiet", "--release", "--target", "wasm32v1-none", "--manifest-path"])
			.arg(&manifest)
			// Inside the actors' workspace, so that its .cargo/config.toml (stack size) applies.
			.current_dir(manifest.parent().unwrap())
			.env("CARGO_TARGET_DIR", &target)
			.env_remove("RUSTFLAGS")
			.env_remove("CARGO_ENCODED_RUSTFLAGS")
			.status()
			.expect("cargo runs");
		assert!(status.success(), "building the example actors failed");
		target.join("wasm32v1-none/release")
	})
}

/// The bytes of example actor `name` (crate name with `_`).
pub fn actor_bytes(name: &str) -> Vec<u8> {
	std::fs::read(actors_dir().join(format!("{name}.wasm"))).expect("actor built")
}

/// The same module with a custom section appended: a different CID, the same behaviour.
pub fn salted(bytes: &[u8], salt: &str) -> Vec<u8> {
	let name = salt.as_bytes();
	let mut out = bytes.to_vec();
	out.push(0); // custom section
	out.push((1 + name.len()) as u8);
	out.push(name.len() as u8);
	out.extend_from_slice(name);
	out
}

pub fn limits(pages: u32, fuel: u64) -> Limits {
	Limits { max_memory_pages: pages, max_fuel_per_call: fuel }
}

pub fn grant(
	provider: &str,
	operations: &[&str],
	limits: Limits,
	expires_at: Option<u32>,
) -> GrantJson {
	GrantJson {
		provider: provider.into(),
		operations: operations.iter().map(|s| s.to_string()).collect(),
		limits,
		expires_at,
	}
}

/// A worker over a temporary data directory.
pub struct Worker {
	pub dir: tempfile::TempDir,
	pub store: Arc<ContentStore>,
	pub grants: Arc<LocalGrants>,
	pub log: Arc<Log>,
	pub runtime: MiniRuntime,
}

impl Worker {
	pub fn new(timeout: Duration) -> Self {
		Self::in_dir(tempfile::tempdir().unwrap(), timeout)
	}

	/// A worker over an existing directory (a restart).
	pub fn in_dir(dir: tempfile::TempDir, timeout: Duration) -> Self {
		Self::measured(dir, timeout, None)
	}

	/// A worker whose mini-runtime measures every release with `measure` before compiling it.
	pub fn measured(
		dir: tempfile::TempDir,
		timeout: Duration,
		measure: Option<Arc<dyn tea_worker::runtime::Measure>>,
	) -> Self {
		let store = Arc::new(ContentStore::open(dir.path()).unwrap());
		let grants = Arc::new(LocalGrants::new());
		let log = Arc::new(Log::default());
		let providers: Vec<Arc<dyn Provider>> = vec![
			Arc::new(KeyValue::open(&dir.path().join("kv.redb")).unwrap()),
			log.clone(),
			Arc::new(Random),
			Arc::new(Blob::new(store.clone(), 1 << 20)),
		];
		let config = RuntimeConfig { timeout, ..Default::default() };
		let runtime =
			MiniRuntime::measured(config, store.clone(), grants.clone(), providers, measure)
				.unwrap();
		Self { dir, store, grants, log, runtime }
	}

	/// Stores `bytes` and approves them as `actor` v1 with `grants`, signed by Alice.
	pub fn approve(&self, actor: &str, bytes: &[u8], grants: Vec<GrantJson>) -> ContentId {
		let cid = self.store.put(bytes).unwrap();
		let manifest = ManifestJson {
			developer: None,
			actor: actor.into(),
			version: 1,
			cid: cid.to_text(),
			grants,
		};
		self.grants.approve_signed(&manifest.sign("//Alice").unwrap()).unwrap();
		cid
	}

	/// Restarts: drops the runtime and databases, reopens the same directory.
	pub fn restart(self, timeout: Duration) -> Self {
		let Worker { dir, runtime, .. } = self;
		drop(runtime);
		Self::in_dir(dir, timeout)
	}
}
