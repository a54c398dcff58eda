//! Returns its input unchanged (benchmarks measure the host path with it).
#![no_std]
extern crate alloc;
use alloc::vec::Vec;

fn handle(input: &[u8]) -> Vec<u8> {
	input.to_vec()
}

tea_actor_sdk::actor!(handle);
