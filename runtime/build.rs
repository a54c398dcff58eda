//! Builds the runtime's Wasm blob (`WASM_BINARY`) with substrate-wasm-builder.
//!
//! The toolchain is chosen by `scripts/setup.sh`: rustup's `wasm32v1-none` target where it can
//! be installed, otherwise Debian's rustc-web linked into rustup as `debian-web`.

#[cfg(feature = "std")]
include!("wasm_builder.rs");

#[cfg(feature = "std")]
fn main() {
	let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
	let workspace =
		std::path::Path::new(&manifest_dir).parent().expect("runtime/ is in the workspace");
	build_tea_runtime(substrate_wasm_builder::WasmBuilder::new().with_current_project(), workspace);
}

/// The Wasm builder is not needed when this crate itself is compiled to Wasm.
#[cfg(not(feature = "std"))]
fn main() {}
