//! What logging an actor release costs at load time, side by side in one run with what it
//! precedes: one event log entry (written durably to the redb log, then `TPM2_PCR_Extend` on a
//! swtpm through the TPM owner's thread) against compiling the release (`Module::new` of the
//! stats actor on the worker's engine).
//!
//! `cargo test -p tea-worker --bench evidence` (`scripts/perf.sh` prints it with the rest).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;
use tea_primitives::evidence::EventKind;
use tea_worker::{
	runtime::{engine_config, RuntimeConfig},
	tpm::TpmHandle,
};
use wasmtime::{Engine, Module};

fn median(mut v: Vec<f64>) -> f64 {
	v.sort_by(|a, b| a.partial_cmp(b).unwrap());
	v[v.len() / 2]
}

fn main() {
	let dir = tempfile::tempdir().unwrap();
	let swtpm = tea_worker::daemon::swtpm::start(&dir.path().join("swtpm"), None)
		.expect("swtpm (scripts/setup.sh)");
	let log = Some((dir.path().join("evidence.redb"), tea_worker::evidence::DEFAULT_LOG_PCR));
	let (tpm, _) = TpmHandle::open_with_log(&swtpm.tcti, log).unwrap();
	let stats = common::actor_bytes("stats");
	let engine = Engine::new(&engine_config(&RuntimeConfig::default())).unwrap();

	const ROUNDS: usize = 7;
	const ITERS: u32 = 10;
	let (mut logged, mut compiled) = (Vec::new(), Vec::new());
	let mut n = 0u64;
	for _ in 0..ROUNDS {
		let t = Instant::now();
		for _ in 0..ITERS {
			// A release not logged yet in this cycle each time (a CID-sized datum).
			n += 1;
			let mut data = [0u8; 36];
			data[..8].copy_from_slice(&n.to_le_bytes());
			assert!(tpm.run_blocking(move |t| t.measure(EventKind::Actor, &data)).unwrap());
		}
		logged.push(t.elapsed().as_nanos() as f64 / ITERS as f64);
		let t = Instant::now();
		for _ in 0..ITERS {
			Module::new(&engine, &stats).unwrap();
		}
		compiled.push(t.elapsed().as_nanos() as f64 / ITERS as f64);
	}
	let (logged, compiled) = (median(logged), median(compiled));
	println!("| what | ours | reference | ratio |");
	println!("|---|---|---|---|");
	println!(
		"| logging a release before its load (durable log entry + swtpm PCR extend) vs compiling it (stats actor, {} KB) | {:.2} ms | {:.2} ms | {:.2}x |",
		stats.len() / 1024,
		logged / 1e6,
		compiled / 1e6,
		logged / compiled
	);
	tpm.close();
}
