//! Builds the runtime's Wasm blob (`WASM_BINARY`) with substrate-wasm-builder.
//!
//! The toolchain is chosen by `scripts/setup.sh`: rustup's `wasm32v1-none` target where it can
//! be installed, otherwise Debian's rustc-web linked into rustup as `debian-web`.

#[cfg(feature = "std")]
fn main() {
	use std::path::Path;
	// The committed chain specs embed this Wasm, so it must not depend on where the checkout or
	// the cargo home lives: strip those prefixes from the paths compiled into panic messages, and
	// drop the symbol-name section, whose mangled hashes include the checkout's absolute path.
	let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
	let workspace = Path::new(&manifest_dir).parent().expect("runtime/ is inside the workspace");
	let cargo_home = std::env::var("CARGO_HOME").unwrap_or_else(|_| {
		format!("{}/.cargo", std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
	});
	substrate_wasm_builder::WasmBuilder::init_with_defaults()
		.append_to_rust_flags(format!("--remap-path-prefix={}=/tea", workspace.display()))
		.append_to_rust_flags(format!("--remap-path-prefix={cargo_home}=/cargo"))
		.append_to_rust_flags("-C link-arg=--strip-all")
		.build();
}

/// The Wasm builder is not needed when this crate itself is compiled to Wasm.
#[cfg(not(feature = "std"))]
fn main() {}
