//! "Send code to the data": reads a blob (one number per line) by its binary CID, the input,
//! and returns `count mean min max variance` as text. Logs what it did.
#![no_std]
extern crate alloc;
use alloc::{format, vec::Vec};
use tea_actor_sdk::{blob, log};

fn handle(cid: &[u8]) -> Vec<u8> {
	let data = match blob::read(cid) {
		Ok(data) => data,
		Err(e) => return format!("error {}", e.code()).into_bytes(),
	};
	let text = core::str::from_utf8(&data).unwrap_or("");
	let (mut n, mut sum, mut sum_sq) = (0u64, 0f64, 0f64);
	let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
	for value in text.lines().filter_map(|l| l.trim().parse::<f64>().ok()) {
		n += 1;
		sum += value;
		sum_sq += value * value;
		min = min.min(value);
		max = max.max(value);
	}
	if n == 0 {
		return b"count=0".to_vec();
	}
	let mean = sum / n as f64;
	let variance = sum_sq / n as f64 - mean * mean;
	let _ = log::write(&format!("stats over {n} values"));
	format!("count={n} mean={mean} min={min} max={max} variance={variance}").into_bytes()
}

tea_actor_sdk::actor!(handle);
