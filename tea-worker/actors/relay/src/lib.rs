//! Input: the name of another actor; calls it through `tea:message/send` and returns its output.
#![no_std]
extern crate alloc;
use alloc::{format, vec::Vec};
use tea_actor_sdk::message;

fn handle(input: &[u8]) -> Vec<u8> {
	let target = core::str::from_utf8(input).unwrap_or("");
	match message::send(target, b"") {
		Ok(output) => output,
		Err(e) => format!("error {}", e.code()).into_bytes(),
	}
}

tea_actor_sdk::actor!(handle);
