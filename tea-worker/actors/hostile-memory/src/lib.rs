//! Hostile: allocates 1 MiB blocks until memory growth is denied.
#![no_std]
extern crate alloc;
use alloc::vec::Vec;

fn handle(_input: &[u8]) -> Vec<u8> {
	let mut blocks: Vec<Vec<u8>> = Vec::new();
	loop {
		let mut block = Vec::with_capacity(1 << 20);
		block.resize(1 << 20, 0xAA);
		blocks.push(core::hint::black_box(block));
	}
}

tea_actor_sdk::actor!(handle);
