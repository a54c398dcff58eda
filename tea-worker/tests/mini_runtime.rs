//! The mini-runtime end to end with real actors built from source by the guest SDK: grants per
//! operation, hostile actors contained, tampered bytes refused, persistence, isolation.

mod common;

use common::*;
use std::{sync::Arc, thread, time::Duration};
use tea_primitives::{code::CodeRejection, ContentId};
use tea_worker::{
	grants::{GrantSource, Refusal},
	runtime::{InvokeError, LoadError, SecurityEventKind},
	store::StoreError,
};

const SECOND: Duration = Duration::from_secs(1);

fn kv(ops: &[&str]) -> tea_worker::grants::GrantJson {
	grant("tea:keyvalue", ops, limits(16, 50_000_000), None)
}

/// Stores the numbers 1..=4 and approves `stats` reading blobs and logging with `log_fuel` as
/// its log grant's fuel budget. Returns (data CID, stats CID).
fn stats_with_data(worker: &Worker, log_fuel: u64) -> (ContentId, ContentId) {
	let data = worker.store.put(b"1\n2\n3\n4\n").unwrap();
	let cid = worker.approve(
		"stats",
		&actor_bytes("stats"),
		vec![
			grant("tea:blob", &["read"], limits(16, 50_000_000), None),
			grant("tea:log", &["write"], limits(16, log_fuel), None),
		],
	);
	(data, cid)
}

fn text(output: Vec<u8>) -> String {
	String::from_utf8(output).unwrap()
}

fn refusals(worker: &Worker) -> Vec<(String, String, Refusal)> {
	worker
		.runtime
		.security_log()
		.events()
		.into_iter()
		.filter_map(|e| match e.kind {
			SecurityEventKind::Refused { provider, operation, refusal } => {
				Some((provider, operation, refusal))
			}
			_ => None,
		})
		.collect()
}

#[test]
fn every_sdk_actor_passes_the_chains_check_except_the_hostile_import() {
	for name in
		["counter", "stats", "nop", "relay", "hostile_loop", "hostile_memory", "hostile_ungranted"]
	{
		let bytes = actor_bytes(name);
		assert!(tea_primitives::code::inspect(&bytes).is_ok(), "{name} fails the ABI check");
	}
	let counter = tea_primitives::code::inspect(&actor_bytes("counter")).unwrap();
	let ops: Vec<_> = counter
		.provider_imports
		.iter()
		.map(|(p, o)| format!("{}/{}", String::from_utf8_lossy(p), String::from_utf8_lossy(o)))
		.collect();
	assert_eq!(ops, ["tea:keyvalue/get", "tea:keyvalue/put"]);
	assert!(matches!(
		tea_primitives::code::inspect(&actor_bytes("hostile_import")),
		Err(CodeRejection::ForeignImport { .. })
	));
}

#[test]
fn counter_counts_and_its_data_survives_a_restart() {
	let worker = Worker::new(SECOND);
	let cid = worker.approve("counter", &actor_bytes("counter"), vec![kv(&["get", "put"])]);
	for expected in ["1", "2", "3"] {
		let invocation = worker.runtime.invoke(&cid, b"").unwrap();
		assert_eq!(text(invocation.output), expected);
		assert!(invocation.fuel_used > 0);
	}
	let worker = worker.restart(SECOND);
	let cid2 = worker.approve("counter", &actor_bytes("counter"), vec![kv(&["get", "put"])]);
	assert_eq!(cid2, cid);
	assert_eq!(text(worker.runtime.invoke(&cid, b"").unwrap().output), "4");
}

#[test]
fn grants_are_enforced_per_operation() {
	let worker = Worker::new(SECOND);
	// Granted get only: get works (nothing stored), put is refused with Denied (-1).
	let hostile = worker.approve("thief", &actor_bytes("hostile_ungranted"), vec![kv(&["get"])]);
	assert_eq!(text(worker.runtime.invoke(&hostile, b"").unwrap().output), "put=-1 get=none");
	assert_eq!(refusals(&worker), vec![("tea:keyvalue".into(), "put".into(), Refusal::NotGranted)]);
	// The worker keeps serving the same actor and others.
	assert_eq!(text(worker.runtime.invoke(&hostile, b"").unwrap().output), "put=-1 get=none");
	let counter = worker.approve("counter", &actor_bytes("counter"), vec![kv(&["get", "put"])]);
	assert_eq!(text(worker.runtime.invoke(&counter, b"").unwrap().output), "1");
}

#[test]
fn expired_and_revoked_grants_are_refused() {
	let worker = Worker::new(SECOND);
	let bytes = actor_bytes("counter");
	let cid = worker.approve(
		"counter",
		&bytes,
		vec![grant("tea:keyvalue", &["get", "put"], limits(16, 50_000_000), Some(5))],
	);
	worker.grants.set_block(5);
	assert_eq!(text(worker.runtime.invoke(&cid, b"").unwrap().output), "1");
	worker.grants.set_block(6);
	assert_eq!(text(worker.runtime.invoke(&cid, b"").unwrap().output), "error -1");
	assert_eq!(refusals(&worker), vec![("tea:keyvalue".into(), "get".into(), Refusal::Expired)]);

	worker.grants.set_block(1);
	worker.grants.revoke_grant(&cid, "tea:keyvalue");
	assert_eq!(text(worker.runtime.invoke(&cid, b"").unwrap().output), "error -1");
	assert_eq!(refusals(&worker).last().unwrap().2, Refusal::Revoked);

	worker.grants.revoke_release(&cid);
	assert!(matches!(
		worker.runtime.invoke(&cid, b""),
		Err(InvokeError::Load(LoadError::NotApproved(_)))
	));
}

#[test]
fn a_grant_fuel_budget_bounds_its_calls() {
	let worker = Worker::new(SECOND);
	// The log grant allows calls only in the first 1000 units of fuel; stats burns far more
	// parsing before it logs, so its log call is refused with BudgetExceeded.
	let (data, cid) = stats_with_data(&worker, 1_000);
	let out = text(worker.runtime.invoke(&cid, data.as_bytes()).unwrap().output);
	assert!(out.starts_with("count=4"), "{out}");
	assert!(worker.log.lines().is_empty());
	assert_eq!(
		refusals(&worker),
		vec![("tea:log".into(), "write".into(), Refusal::BudgetExceeded)]
	);
}

#[test]
fn hostile_actors_are_contained_and_the_worker_keeps_serving() {
	let worker = Worker::new(Duration::from_millis(300));
	let counter = worker.approve("counter", &actor_bytes("counter"), vec![kv(&["get", "put"])]);
	let serves = |expected: &str| {
		assert_eq!(text(worker.runtime.invoke(&counter, b"").unwrap().output), expected);
	};

	// An infinite loop with plenty of fuel hits the wall-clock deadline...
	let spin = worker.approve(
		"spin",
		&actor_bytes("hostile_loop"),
		vec![grant("tea:log", &["write"], limits(16, u64::MAX / 2), None)],
	);
	let started = std::time::Instant::now();
	assert!(matches!(worker.runtime.invoke(&spin, b""), Err(InvokeError::Timeout(_))));
	assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
	serves("1");
	// ...and with little fuel, runs out of it.
	let spin_cheap = worker.approve(
		"spin-cheap",
		&salted(&actor_bytes("hostile_loop"), "cheap"),
		vec![grant("tea:log", &["write"], limits(16, 1_000_000), None)],
	);
	assert!(matches!(
		worker.runtime.invoke(&spin_cheap, b""),
		Err(InvokeError::OutOfFuel(1_000_000))
	));
	serves("2");

	// A memory bomb is stopped at its grant's memory limit.
	let bomb = worker.approve(
		"bomb",
		&actor_bytes("hostile_memory"),
		vec![grant("tea:log", &["write"], limits(32, u64::MAX / 2), None)],
	);
	assert!(matches!(worker.runtime.invoke(&bomb, b""), Err(InvokeError::MemoryLimit(32))));
	serves("3");

	// An import outside the ABI never loads.
	let import = worker.approve("import", &actor_bytes("hostile_import"), vec![]);
	match worker.runtime.invoke(&import, b"") {
		Err(InvokeError::Load(LoadError::InvalidActor(CodeRejection::ForeignImport {
			module,
			field,
		}))) => {
			assert_eq!((&module[..], &field[..]), (&b"env"[..], &b"exec"[..]));
		}
		other => panic!("unexpected {other:?}"),
	}
	assert!(worker
		.runtime
		.security_log()
		.events()
		.iter()
		.any(|e| matches!(e.kind, SecurityEventKind::InvalidActor(_)) && e.actor == "import"));
	serves("4");
}

#[test]
fn traps_and_bad_outputs_are_typed_errors() {
	let worker = Worker::new(SECOND);
	let module = |run_body: &str| {
		wat::parse_str(format!(
			r#"(module (memory (export "memory") 1)
				(func (export "tea_alloc") (param i32) (result i32) i32.const 1024)
				(func (export "tea_run") (param i32 i32) (result i64) {run_body}))"#
		))
		.unwrap()
	};
	let trap = worker.approve("trap", &module("unreachable"), vec![]);
	assert!(matches!(worker.runtime.invoke(&trap, b""), Err(InvokeError::Trap(_))));
	// Output pointer far outside the 64 KiB memory.
	let liar = worker.approve("liar", &module("i64.const 0x7fff000000000010"), vec![]);
	assert!(matches!(worker.runtime.invoke(&liar, b""), Err(InvokeError::BadOutput)));
	// An import of an operation no provider offers.
	let unknown = worker.approve(
		"unknown",
		&wat::parse_str(tea_primitives::testing::actor_wat(
			r#"(import "tea:shell" "exec" (func (param i32 i32) (result i64)))"#,
		))
		.unwrap(),
		vec![grant("tea:shell", &["exec"], limits(1, 1), None)],
	);
	assert!(matches!(
		worker.runtime.invoke(&unknown, b""),
		Err(InvokeError::Load(LoadError::UnknownImport { .. }))
	));
}

#[test]
fn tampered_or_unapproved_bytes_are_refused_before_compilation() {
	let worker = Worker::new(SECOND);
	let cid = worker.approve("counter", &actor_bytes("counter"), vec![kv(&["get", "put"])]);
	std::fs::write(worker.dir.path().join("blobs").join(cid.to_text()), actor_bytes("nop"))
		.unwrap();
	assert!(matches!(
		worker.runtime.invoke(&cid, b""),
		Err(InvokeError::Load(LoadError::Store(StoreError::Corrupt(_))))
	));
	assert!(worker
		.runtime
		.security_log()
		.events()
		.iter()
		.any(|e| e.kind == SecurityEventKind::TamperedBytes && e.cid == cid));

	let stranger = worker.store.put(&actor_bytes("nop")).unwrap();
	assert!(matches!(
		worker.runtime.invoke(&stranger, b""),
		Err(InvokeError::Load(LoadError::NotApproved(_)))
	));
	assert!(matches!(
		worker.runtime.invoke(&ContentId::of(b"never stored"), b""),
		Err(InvokeError::Load(LoadError::NotApproved(_)))
	));
}

#[test]
fn stats_runs_next_to_the_data() {
	let worker = Worker::new(SECOND);
	let (data, cid) = stats_with_data(&worker, 50_000_000);
	let out = text(worker.runtime.invoke(&cid, data.as_bytes()).unwrap().output);
	assert_eq!(out, "count=4 mean=2.5 min=1 max=4 variance=1.25");
	assert_eq!(worker.log.lines(), vec![("stats".to_string(), "stats over 4 values".to_string())]);
	// A blob that is not stored is NotFound (-6) for the actor.
	let missing =
		text(worker.runtime.invoke(&cid, ContentId::of(b"nope").as_bytes()).unwrap().output);
	assert_eq!(missing, "error -6");
}

#[test]
fn messages_reach_the_target_actor_under_its_own_identity() {
	let worker = Worker::new(SECOND);
	worker.approve("counter", &actor_bytes("counter"), vec![kv(&["get", "put"])]);
	let relay = worker.approve(
		"relay",
		&actor_bytes("relay"),
		vec![grant("tea:message", &["send"], limits(16, 50_000_000), None)],
	);
	assert_eq!(text(worker.runtime.invoke(&relay, b"counter").unwrap().output), "1");
	// The counter counted in its own namespace.
	let counter = worker.grants.active("counter").unwrap();
	assert_eq!(text(worker.runtime.invoke(&counter, b"").unwrap().output), "2");
	assert_eq!(text(worker.runtime.invoke(&relay, b"nobody").unwrap().output), "error -6");
	// Without the grant, messaging is refused.
	let mute = worker.approve("mute", &salted(&actor_bytes("relay"), "mute"), vec![]);
	assert_eq!(text(worker.runtime.invoke(&mute, b"counter").unwrap().output), "error -1");
}

#[test]
fn concurrent_invocations_are_isolated() {
	let worker = Arc::new(Worker::new(SECOND));
	let counter = actor_bytes("counter");
	let a = worker.approve("alpha", &salted(&counter, "a"), vec![kv(&["get", "put"])]);
	let b = worker.approve("beta", &salted(&counter, "b"), vec![kv(&["get", "put"])]);
	let echo = worker.approve("echo", &actor_bytes("nop"), vec![]);
	let threads: Vec<_> = (0..4)
		.map(|t| {
			let (worker, a, b, echo) = (worker.clone(), a.clone(), b.clone(), echo.clone());
			thread::spawn(move || {
				for i in 0..25 {
					// One writer per counter: `get` then `put` is not one transaction.
					match t {
						0 => drop(worker.runtime.invoke(&a, b"").unwrap()),
						1 => drop(worker.runtime.invoke(&b, b"").unwrap()),
						_ => {}
					}
					let input = format!("thread {t} call {i}");
					let out = worker.runtime.invoke(&echo, input.as_bytes()).unwrap().output;
					assert_eq!(out, input.as_bytes(), "memory of another invocation leaked");
				}
			})
		})
		.collect();
	for t in threads {
		t.join().unwrap();
	}
	// 25 increments each, interleaved: neither counter sees the other's.
	assert_eq!(text(worker.runtime.invoke(&a, b"").unwrap().output), "26");
	assert_eq!(text(worker.runtime.invoke(&b, b"").unwrap().output), "26");
}

#[test]
fn a_session_keeps_its_instance_between_calls() {
	let worker = Worker::new(SECOND);
	let echo = worker.approve("echo", &actor_bytes("nop"), vec![]);
	let mut session = worker.runtime.session(&echo).unwrap();
	for i in 0..100 {
		let input = format!("call {i}");
		assert_eq!(session.call(input.as_bytes()).unwrap().output, input.as_bytes());
	}
}
