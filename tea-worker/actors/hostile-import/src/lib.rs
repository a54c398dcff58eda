//! Hostile: imports `env.exec`, which is no part of the TEA host ABI; it must never load.
#![no_std]
extern crate alloc;
use alloc::vec::Vec;

#[link(wasm_import_module = "env")]
extern "C" {
	fn exec(ptr: *const u8, len: i32) -> i32;
}

fn handle(input: &[u8]) -> Vec<u8> {
	// SAFETY: never runs: the worker refuses to load this module.
	let code = unsafe { exec(input.as_ptr(), input.len() as i32) };
	Vec::from(code.to_le_bytes())
}

tea_actor_sdk::actor!(handle);
