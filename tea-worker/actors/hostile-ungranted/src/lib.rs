//! Hostile: its manifest grants tea:keyvalue/get only; it tries `put`, then reads. Returns the
//! result codes: `put=<code> get=<code|found|none>`.
#![no_std]
extern crate alloc;
use alloc::{format, vec::Vec};
use tea_actor_sdk::kv;

fn handle(_input: &[u8]) -> Vec<u8> {
	let put = match kv::put(b"stolen", b"1") {
		Ok(()) => 0,
		Err(e) => e.code(),
	};
	let get = match kv::get(b"stolen") {
		Ok(Some(_)) => "found".into(),
		Ok(None) => "none".into(),
		Err(e) => format!("{}", e.code()),
	};
	format!("put={put} get={get}").into_bytes()
}

tea_actor_sdk::actor!(handle);
