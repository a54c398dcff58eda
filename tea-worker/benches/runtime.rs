//! Side-by-side timings of the mini-runtime against raw wasmtime on the same module, in one run.
//!
//! `cargo bench -p tea-worker --bench runtime` (the README's performance table comes from it).
//! Each pair runs interleaved for several rounds; the table reports the median per side and the
//! ratio (ours / reference), since absolute times on a shared 2-core machine are noisy.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use tea_worker::runtime::{engine_config, RuntimeConfig};
use wasmtime::{Engine, Instance, Linker, Module, Store, TypedFunc};

const ROUNDS: usize = 7;

fn median(mut samples: Vec<f64>) -> f64 {
	samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
	samples[samples.len() / 2]
}

/// Nanoseconds per iteration of `f`, median over rounds, interleaved with `g`.
fn pair(iters: u32, mut ours: impl FnMut(), mut reference: impl FnMut()) -> (f64, f64) {
	let (mut a, mut b) = (Vec::new(), Vec::new());
	for _ in 0..ROUNDS {
		let t = Instant::now();
		for _ in 0..iters {
			ours();
		}
		a.push(t.elapsed().as_nanos() as f64 / iters as f64);
		let t = Instant::now();
		for _ in 0..iters {
			reference();
		}
		b.push(t.elapsed().as_nanos() as f64 / iters as f64);
	}
	(median(a), median(b))
}

/// The raw wasmtime way to call an ABI v1 actor: stub host functions, typed calls, payload copy.
struct Raw {
	store: Store<()>,
	memory: wasmtime::Memory,
	alloc: TypedFunc<i32, i32>,
	run: TypedFunc<(i32, i32), i64>,
}

fn raw_linker(engine: &Engine) -> Linker<()> {
	let mut linker = Linker::new(engine);
	linker.func_wrap("tea", "result_read", |_: i32, _: i32| -> i32 { 0 }).unwrap();
	linker.func_wrap("tea", "abi_version", || -> i32 { 1 }).unwrap();
	linker
}

impl Raw {
	fn instantiate(pre: &wasmtime::InstancePre<()>, engine: &Engine, fuel: bool) -> Self {
		let mut store = Store::new(engine, ());
		if fuel {
			store.set_fuel(u64::MAX / 2).unwrap();
			store.set_epoch_deadline(u64::MAX / 2);
		}
		let instance: Instance = pre.instantiate(&mut store).unwrap();
		let memory = instance.get_memory(&mut store, "memory").unwrap();
		let alloc = instance.get_typed_func(&mut store, "tea_alloc").unwrap();
		let run = instance.get_typed_func(&mut store, "tea_run").unwrap();
		Self { store, memory, alloc, run }
	}

	fn call(&mut self, input: &[u8]) -> Vec<u8> {
		let ptr = self.alloc.call(&mut self.store, input.len() as i32).unwrap();
		self.memory.write(&mut self.store, ptr as usize, input).unwrap();
		let packed = self.run.call(&mut self.store, (ptr, input.len() as i32)).unwrap() as u64;
		let (p, l) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
		self.memory.data(&self.store)[p..p + l].to_vec()
	}
}

fn main() {
	let worker = Worker::new(Duration::from_secs(2));
	let nop = actor_bytes("nop");
	let nop_cid = worker.approve("nop", &nop, vec![]);
	let payload = vec![7u8; 64];

	let raw_engine = Engine::default();
	let raw_module = Module::new(&raw_engine, &nop).unwrap();
	let raw_pre = raw_linker(&raw_engine).instantiate_pre(&raw_module).unwrap();

	println!("| what | ours | raw wasmtime | ratio |");
	println!("|---|---|---|---|");

	// 1. Warm call: one instance, many calls.
	let mut session = worker.runtime.session(&nop_cid).unwrap();
	let mut raw = Raw::instantiate(&raw_pre, &raw_engine, false);
	let (ours, reference) = pair(
		200_000,
		|| assert_eq!(session.call(&payload).unwrap().output.len(), 64),
		|| assert_eq!(raw.call(&payload).len(), 64),
	);
	println!(
		"| warm call, nop actor, 64-byte payload | {ours:.0} ns | {reference:.0} ns | {:.2}x |",
		ours / reference
	);

	// 2. Fresh instance per task.
	let (ours, reference) = pair(
		20_000,
		|| assert_eq!(worker.runtime.invoke(&nop_cid, &payload).unwrap().output.len(), 64),
		|| assert_eq!(Raw::instantiate(&raw_pre, &raw_engine, false).call(&payload).len(), 64),
	);
	println!(
		"| fresh instance per task (approval check, instantiate, call) | {ours:.0} ns | {reference:.0} ns | {:.2}x |",
		ours / reference
	);
	println!("| nop tasks per second on one core (ours) | {:.0} | | |", 1e9 / ours);
	// The same, against raw wasmtime on the worker's engine configuration (pooling allocator,
	// fuel, epochs): what our layer itself costs per task.
	let pooled_engine = Engine::new(&engine_config(&RuntimeConfig::default())).unwrap();
	let pooled_module = Module::new(&pooled_engine, &nop).unwrap();
	let pooled_pre = raw_linker(&pooled_engine).instantiate_pre(&pooled_module).unwrap();
	let (ours, reference) = pair(
		20_000,
		|| assert_eq!(worker.runtime.invoke(&nop_cid, &payload).unwrap().output.len(), 64),
		|| assert_eq!(Raw::instantiate(&pooled_pre, &pooled_engine, true).call(&payload).len(), 64),
	);
	println!(
		"| fresh instance per task, reference on the same pooling engine config | {ours:.0} ns | {reference:.0} ns | {:.2}x |",
		ours / reference
	);

	// 3. Cold verified load: store read + hash check + ABI check + compile, vs sha256 + compile.
	let stats = actor_bytes("stats");
	let stats_cid = worker.approve("stats", &stats, vec![]);
	let engine = worker.runtime.engine().clone();
	let (ours, reference) = pair(
		20,
		|| {
			worker.runtime.unload(&stats_cid);
			worker.runtime.load(&stats_cid).unwrap();
		},
		|| {
			let digest = Sha256::digest(&stats);
			assert_eq!(digest.len(), 32);
			Module::new(&engine, &stats).unwrap();
		},
	);
	println!(
		"| cold verified load, stats actor ({} KB) | {:.2} ms | {:.2} ms | {:.2}x |",
		stats.len() / 1024,
		ours / 1e6,
		reference / 1e6,
		ours / reference
	);
}
