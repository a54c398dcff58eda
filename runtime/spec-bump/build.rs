//! Builds the TEA runtime with the `spec-bump` feature (a higher `spec_version`, nothing else)
//! into `<target>/<profile>/wbuild/tea-runtime/tea_runtime_spec_bump.compact.compressed.wasm`,
//! next to the normal runtime and without touching it. The end-to-end test of runtime upgrades
//! submits it. Only when `TEA_SPEC_BUMP_WASM` is set (`scripts/test` sets it), so that everyday
//! builds do not pay for a second Wasm link; cargo caches it like any build script output.

include!("../wasm_builder.rs");

fn main() {
	println!("cargo:rerun-if-env-changed=TEA_SPEC_BUMP_WASM");
	if std::env::var_os("TEA_SPEC_BUMP_WASM").is_none() {
		return;
	}
	let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
	// No `..` in the path: the builder compares it with cargo metadata's.
	let runtime = std::path::Path::new(&manifest_dir).parent().expect("inside runtime/");
	let workspace = runtime.parent().expect("runtime/ is in the workspace");
	let builder = substrate_wasm_builder::WasmBuilder::new()
		.with_project(runtime.join("Cargo.toml"))
		.expect("runtime/Cargo.toml exists")
		.enable_feature("spec-bump")
		.set_file_name("tea_runtime_spec_bump");
	build_tea_runtime(builder, workspace);
}
