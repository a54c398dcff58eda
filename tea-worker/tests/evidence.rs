//! The event log against a real software TPM: what the worker logs, extends and quotes is what
//! the runtime's replay accepts, across worker restarts, TPM resets and foreign extends.

mod common;
mod swtpm;

use pallet_tea_attestation::EvidenceState;
use swtpm::swtpm;
use tea_primitives::{
	evidence::{log_values, replay_since, EventKind, PcrPolicy, PcrRule},
	tpm::{challenge, Purpose},
	ContentId,
};
use tea_worker::{
	chain::duty::{unfit_evidence, EvidenceRules},
	evidence::{LogError, Opened, DEFAULT_LOG_PCR},
	runtime::{InvokeError, LoadError, Measure},
	tpm::{Tpm, TpmError, TpmHandle},
};

const PCR: u8 = DEFAULT_LOG_PCR;

/// A policy like a dev chain's: boot PCRs quoted, the log in PCR 13.
fn policy() -> PcrPolicy {
	PcrPolicy {
		pcrs: vec![(0, PcrRule::Unchecked), (7, PcrRule::Unchecked), (PCR, PcrRule::Log)]
			.try_into()
			.unwrap(),
	}
}

/// What the runtime keeps of an accepted quote.
fn accepted(quote: &tea_worker::tpm::Quote, runtime: [u8; 32]) -> EvidenceState<u32> {
	EvidenceState {
		reset_count: quote.clock.reset_count,
		pcrs: log_values(&policy(), &quote.pcrs).try_into().unwrap(),
		runtime: runtime.into(),
		anchor: 1,
		receipt_key: None,
	}
}

fn rules(last: Option<EvidenceState<u32>>) -> EvidenceRules {
	EvidenceRules {
		policy: Some(policy()),
		last,
		max_entries: 64,
		runtime_allowed: true,
		unregistered: vec![],
	}
}

fn nonce(tpm: &Tpm) -> [u8; 32] {
	challenge(&[5; 32], &tpm.identity().node_id, &[9; 32], Purpose::Heartbeat)
}

#[test]
fn a_logged_launch_and_actor_loads_replay_as_the_runtime_replays_them() {
	let swtpm = swtpm();
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("evidence.redb");
	let mut tpm = Tpm::open(&swtpm.tcti).unwrap();
	assert_eq!(tpm.open_log(&path, PCR).unwrap(), Opened::Started { previous: 0 });
	let selection: Vec<u8> = policy().selection().collect();

	// A quote before anything was launched carries an empty log, and the chain would count
	// it as no runtime at all: the worker does not submit it.
	let (quote, log) = tpm.quote_with_log(&nonce(&tpm), &selection, None).unwrap();
	assert!(log.is_empty());
	let why = unfit_evidence(&rules(None), quote.clock.reset_count, &quote.pcrs, &log).unwrap();
	assert!(why.contains("tea-worker launch"), "{why}");

	let runtime = [0x11; 32];
	assert!(tpm.measure(EventKind::Runtime, &runtime).unwrap());
	assert!(tpm.measure(EventKind::Config, &[0x22; 32]).unwrap());
	assert!(tpm.measure(EventKind::Provider, b"tea:keyvalue").unwrap());
	let actor = ContentId::of(b"an actor");
	assert!(tpm.measure(EventKind::Actor, actor.as_bytes()).unwrap());
	assert!(!tpm.measure(EventKind::Actor, actor.as_bytes()).unwrap(), "once per cycle");

	let (quote, log) = tpm.quote_with_log(&nonce(&tpm), &selection, None).unwrap();
	assert_eq!(log.len(), 4);
	assert_eq!(quote.pcrs.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![0, 7, PCR]);
	assert_eq!(replay_since(&policy(), None, &log, &quote.pcrs), Ok(false));
	assert_eq!(unfit_evidence(&rules(None), quote.clock.reset_count, &quote.pcrs, &log), None);
	// The chain accepted it: the next quote carries only what was loaded since.
	let last = accepted(&quote, runtime);
	let base = rules(Some(last.clone())).base();
	let second = ContentId::of(b"another actor");
	tpm.measure(EventKind::Actor, second.as_bytes()).unwrap();
	let (quote, log) = tpm.quote_with_log(&nonce(&tpm), &selection, base).unwrap();
	assert_eq!(log.len(), 1);
	assert_eq!(log[0].data.to_vec(), second.as_bytes().to_vec());
	assert_eq!(replay_since(&policy(), Some(&last.pcrs), &log, &quote.pcrs), Ok(true));
	assert_eq!(
		unfit_evidence(&rules(Some(last)), quote.clock.reset_count, &quote.pcrs, &log),
		None
	);

	// Every tampering of what the worker would send fails the same replay the runtime runs.
	let mut changed = log.clone();
	changed[0].data[0] ^= 1;
	assert!(unfit_evidence(&rules(None), quote.clock.reset_count, &quote.pcrs, &changed).is_some());
	let mut long = rules(None);
	long.max_entries = 3;
	let (_, all) = tpm.quote_with_log(&nonce(&tpm), &selection, None).unwrap();
	let why = unfit_evidence(&long, quote.clock.reset_count, &quote.pcrs, &all).unwrap();
	assert!(why.contains("at most 3"), "{why}");
}

#[test]
fn the_log_survives_a_worker_restart_and_starts_over_after_a_tpm_reset() {
	let mut swtpm = swtpm();
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("evidence.redb");
	let selection: Vec<u8> = policy().selection().collect();
	let actor = ContentId::of(b"an actor");
	let before = {
		let mut tpm = Tpm::open(&swtpm.tcti).unwrap();
		tpm.open_log(&path, PCR).unwrap();
		tpm.measure(EventKind::Runtime, &[1; 32]).unwrap();
		tpm.measure(EventKind::Actor, actor.as_bytes()).unwrap();
		tpm.quote_with_log(&nonce(&tpm), &selection, None).unwrap().0
	};
	// The worker restarts, the TPM does not (an external TPM): the log goes on.
	{
		let mut tpm = Tpm::open(&swtpm.tcti).unwrap();
		assert_eq!(tpm.open_log(&path, PCR).unwrap(), Opened::Continued { entries: 2, dropped: 0 });
		assert!(!tpm.measure(EventKind::Actor, actor.as_bytes()).unwrap(), "still recorded");
		// Relaunched: the same build is the last one logged, nothing to add; another is.
		assert!(!tpm.measure(EventKind::Runtime, &[1; 32]).unwrap());
		assert!(tpm.measure(EventKind::Runtime, &[2; 32]).unwrap());
		let (quote, log) = tpm.quote_with_log(&nonce(&tpm), &selection, None).unwrap();
		assert_eq!(log.len(), 3);
		assert_eq!(replay_since(&policy(), None, &log, &quote.pcrs), Ok(false));
	}
	// The managed swtpm's orderly shutdown (`Shutdown(STATE)`) and start (`Startup(CLEAR)`)
	// is a TPM *restart*: the reset count stays, the PCRs are zero again. A new cycle; the
	// chain's base from the old cycle (same reset count) is not in it, so the whole log goes.
	swtpm.restart();
	let mut tpm = Tpm::open(&swtpm.tcti).unwrap();
	assert_eq!(tpm.open_log(&path, PCR).unwrap(), Opened::Started { previous: 3 });
	assert!(tpm.measure(EventKind::Actor, actor.as_bytes()).unwrap(), "measured again");
	tpm.measure(EventKind::Runtime, &[1; 32]).unwrap();
	let old = rules(Some(accepted(&before, [1; 32])));
	let (quote, log) = tpm.quote_with_log(&nonce(&tpm), &selection, old.base()).unwrap();
	assert_eq!(quote.clock.reset_count, before.clock.reset_count, "{:?}", quote.clock);
	assert!(quote.clock.restart_count > before.clock.restart_count, "{:?}", quote.clock);
	assert_eq!(log.len(), 2);
	// The runtime falls back to replaying from zero, as the worker's own check does.
	let last = old.last.as_ref().map(|l| &l.pcrs[..]);
	assert_eq!(replay_since(&policy(), last, &log, &quote.pcrs), Ok(false));
	assert_eq!(unfit_evidence(&old, quote.clock.reset_count, &quote.pcrs, &log), None);
}

#[test]
fn a_foreign_extend_of_the_log_pcr_is_never_quoted_with_a_log() {
	let swtpm = swtpm();
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("evidence.redb");
	let selection: Vec<u8> = policy().selection().collect();
	let mut tpm = Tpm::open(&swtpm.tcti).unwrap();
	tpm.open_log(&path, PCR).unwrap();
	tpm.measure(EventKind::Runtime, &[1; 32]).unwrap();
	// Another program on the machine: `tpm2_pcrextend 13:sha256=…`.
	tpm.extend(PCR, [0xee; 32]).unwrap();
	let err = tpm.quote_with_log(&nonce(&tpm), &selection, None).unwrap_err();
	assert!(matches!(err, TpmError::Log(LogError::Unprovable { pcr: PCR })), "{err}");
	assert!(matches!(
		tpm.measure(EventKind::Actor, &[3; 36]),
		Err(TpmError::Log(LogError::Unprovable { .. }))
	));
	drop(tpm);
	// Nor after the worker restarts: the stored log does not reproduce the PCR.
	let mut tpm = Tpm::open(&swtpm.tcti).unwrap();
	assert_eq!(tpm.open_log(&path, PCR).unwrap(), Opened::Unprovable);
	// A log PCR that software can reset is refused.
	assert!(matches!(
		tpm.open_log(&dir.path().join("other.redb"), 16),
		Err(TpmError::Log(LogError::BadPcr(16)))
	));
}

#[test]
fn every_actor_is_in_the_log_before_it_is_compiled_and_unmeasurable_code_never_compiles() {
	let swtpm = swtpm();
	let dir = tempfile::tempdir().unwrap();
	let log = Some((dir.path().join("evidence.redb"), PCR));
	let (tpm, opened) = TpmHandle::open_with_log(&swtpm.tcti, log).unwrap();
	assert_eq!(opened, Some(Opened::Started { previous: 0 }));
	let measure: std::sync::Arc<dyn Measure> = std::sync::Arc::new(tpm.clone());
	let worker = common::Worker::measured(dir, std::time::Duration::from_secs(2), Some(measure));
	let cid = worker.approve("nop", &common::actor_bytes("nop"), vec![]);
	worker.runtime.invoke(&cid, b"").unwrap();
	worker.runtime.invoke(&cid, b"").unwrap();
	let selection: Vec<u8> = policy().selection().collect();
	let (quote, entries) = tpm
		.run_blocking(move |tpm| {
			let nonce = nonce(tpm);
			tpm.quote_with_log(&nonce, &selection, None)
		})
		.unwrap();
	assert_eq!(entries.len(), 1, "loaded once, measured once: {entries:?}");
	assert_eq!(entries[0].kind, EventKind::Actor);
	assert_eq!(entries[0].data.to_vec(), cid.as_bytes().to_vec());
	assert_eq!(replay_since(&policy(), None, &entries, &quote.pcrs), Ok(false));

	// Something else extends the log PCR: the TPM can no longer show what the node runs, so
	// the next release is refused before wasmtime sees it, and tried again later.
	tpm.run_blocking(|tpm| tpm.extend(PCR, [0xee; 32])).unwrap();
	let selection: Vec<u8> = policy().selection().collect();
	let _ = tpm.run_blocking(move |tpm| tpm.quote_with_log(&[], &selection, None));
	let other = worker.approve("counter", &common::actor_bytes("counter"), vec![]);
	let err = worker.runtime.invoke(&other, b"").unwrap_err();
	assert!(
		matches!(&err, InvokeError::Load(LoadError::Unmeasured(why)) if why.contains("PCR 13")),
		"{err}"
	);
	assert!(!worker.runtime.loaded().contains(&other), "never compiled");
	assert!(worker.runtime.loaded().contains(&cid), "what was measured stays loaded");
}
