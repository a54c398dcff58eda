//! Counts its invocations in its private key-value namespace; returns the new count as text.
#![no_std]
extern crate alloc;
use alloc::{format, vec::Vec};
use tea_actor_sdk::kv;

fn handle(_input: &[u8]) -> Vec<u8> {
	let current = match kv::get(b"count") {
		Ok(Some(bytes)) => {
			core::str::from_utf8(&bytes).ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
		}
		Ok(None) => 0,
		Err(e) => return format!("error {}", e.code()).into_bytes(),
	};
	let next = current + 1;
	let text = format!("{next}");
	if let Err(e) = kv::put(b"count", text.as_bytes()) {
		return format!("error {}", e.code()).into_bytes();
	}
	text.into_bytes()
}

tea_actor_sdk::actor!(handle);
