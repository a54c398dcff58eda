// The Wasm builder settings of the TEA runtime, `include!`d by `runtime/build.rs` and by the
// spec-bump variant (`runtime/spec-bump/build.rs`). Both must pass the same flags, or the shared
// Wasm target directory would rebuild every dependency when switching between them.

/// Applies the TEA settings to `builder` and builds while holding a lock on the runtime's Wasm
/// project directory, which both variants share.
fn build_tea_runtime(builder: substrate_wasm_builder::WasmBuilder, workspace: &std::path::Path) {
	// The committed chain specs embed this Wasm, so it must not depend on where the checkout or
	// the cargo home lives: strip those prefixes from the paths compiled into panic messages, and
	// drop the symbol-name section, whose mangled hashes include the checkout's absolute path.
	let cargo_home = std::env::var("CARGO_HOME").unwrap_or_else(|_| {
		format!("{}/.cargo", std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
	});
	let builder = builder
		.import_memory()
		.export_heap_base()
		.append_to_rust_flags(format!("--remap-path-prefix={}=/tea", workspace.display()))
		.append_to_rust_flags(format!("--remap-path-prefix={cargo_home}=/cargo"))
		.append_to_rust_flags("-C link-arg=--strip-all");
	// OUT_DIR is <target>/<profile>/build/<package>-<hash>/out; the Wasm project lives in
	// <target>/<profile>/wbuild/tea-runtime.
	let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
	let wbuild = out_dir.ancestors().nth(3).expect("OUT_DIR is deep enough").join("wbuild");
	std::fs::create_dir_all(&wbuild).expect("can create the wbuild directory");
	let lock = std::fs::File::create(wbuild.join("tea-runtime.lock")).expect("can create the lock");
	lock.lock().expect("can lock the runtime's Wasm project");
	builder.build();
}
