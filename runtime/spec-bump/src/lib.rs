//! Nothing to link: this crate's build script produces the spec-bump runtime Wasm (see
//! `build.rs`).
