//! Hostile: spins forever; fuel or the epoch deadline must stop it.
#![no_std]
extern crate alloc;
use alloc::vec::Vec;

fn handle(_input: &[u8]) -> Vec<u8> {
	let mut i = 0u64;
	loop {
		i = core::hint::black_box(i.wrapping_add(1));
	}
}

tea_actor_sdk::actor!(handle);
