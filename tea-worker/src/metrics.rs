//! The worker's Prometheus metrics and its `/metrics` + `/health` endpoint.
//!
//! Metrics live in one process-wide registry ([`registry`]); subsystems count through the
//! small functions here, so names and labels are defined once.

use prometheus::{
	Encoder, Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use std::{net::SocketAddr, sync::OnceLock, time::Duration};

struct Metrics {
	registry: Registry,
	attestations: IntCounterVec,
	votes: IntCounterVec,
	submissions: IntCounterVec,
	refusals: IntCounterVec,
	fetches: IntCounterVec,
	invocations: IntCounterVec,
	client_tasks: IntCounterVec,
	acks: IntCounterVec,
	loaded: IntGauge,
	tpm: Histogram,
	finalized: IntGauge,
	chain_lag: IntGauge,
	connected: IntGauge,
	in_flight: IntGauge,
	outbox: IntGauge,
	peers: IntGauge,
	state: IntGaugeVec,
	resident: IntGauge,
}

fn metrics() -> &'static Metrics {
	static METRICS: OnceLock<Metrics> = OnceLock::new();
	METRICS.get_or_init(|| {
		let registry = Registry::new_custom(Some("tea_worker".into()), None).expect("no labels");
		let counter = |name: &str, help: &str, labels: &[&str]| {
			let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
			registry.register(Box::new(c.clone())).expect("registered once");
			c
		};
		let gauge = |name: &str, help: &str| {
			let g = IntGauge::new(name, help).expect("valid metric");
			registry.register(Box::new(g.clone())).expect("registered once");
			g
		};
		let attestations = counter(
			"attestations_total",
			"Attestations by purpose and outcome (sent, accepted, rejected, failed).",
			&["purpose", "outcome"],
		);
		let votes = counter("votes_total", "Committee votes cast, by verdict.", &["approve"]);
		let submissions = counter(
			"submissions_total",
			"Extrinsics the operator signed, by call and outcome (finalized, failed, lapsed).",
			&["call", "outcome"],
		);
		let refusals = counter(
			"refusals_total",
			"Requests this worker refused, by kind (p2p_later, p2p_pending, blob_busy, blob_rate, \
			 blob_wrong_bytes; host_not_granted, host_expired, host_revoked, \
			 host_budget_exceeded, tampered_bytes, unloadable for actors).",
			&["kind"],
		);
		let fetches = counter(
			"release_fetches_total",
			"Releases this node may run fetched from peers, by outcome (fetched, failed).",
			&["outcome"],
		);
		let invocations = counter(
			"invocations_total",
			"Actor invocations by local callers, by outcome (ok, or the refusal or failure kind).",
			&["outcome"],
		);
		let client_tasks = counter(
			"client_tasks_total",
			"Client tasks (signed requests, receipts), by outcome (ok, or the refusal kind).",
			&["outcome"],
		);
		let acks = counter(
			"acks_total",
			"Acknowledged receipts by what became of them: counted, refused (alone, dropped), batch_refused (sent again in smaller batches), kept (refused for the node's or the era's sake), or dropped before sending by reason (stale, full, counted, worthless, unknown_client, ...).",
			&["outcome"],
		);
		let tpm = Histogram::with_opts(
			HistogramOpts::new("tpm_seconds", "Time of one TPM job (quote, credential, …).")
				.buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
		)
		.expect("valid metric");
		registry.register(Box::new(tpm.clone())).expect("registered once");
		let state = IntGaugeVec::new(
			Opts::new(
				"node_state",
				"1 for the node's state on chain (unregistered, candidate, …).",
			),
			&["state"],
		)
		.expect("valid metric");
		registry.register(Box::new(state.clone())).expect("registered once");
		Metrics {
			attestations,
			votes,
			submissions,
			refusals,
			fetches,
			invocations,
			client_tasks,
			acks,
			loaded: gauge("actors_loaded", "Releases compiled and ready to run."),
			tpm,
			finalized: gauge("finalized_block", "The latest finalized block the worker saw."),
			chain_lag: gauge("chain_lag_blocks", "Best minus finalized block at the last check."),
			connected: gauge("chain_connected", "1 while the worker is connected to its node."),
			in_flight: gauge(
				"submissions_in_flight",
				"Extrinsics being followed to finalization right now.",
			),
			outbox: gauge(
				"outbox_depth",
				"Signed extrinsics in the persisted outbox (may still be included).",
			),
			peers: gauge("peers_allowed", "Registered peers this worker accepts connections from."),
			resident: gauge("resident_bytes", "Resident memory of the worker process."),
			state,
			registry,
		}
	})
}

/// The process-wide registry.
pub fn registry() -> &'static Registry {
	&metrics().registry
}

/// An attestation's outcome.
pub fn attestation(purpose: &str, outcome: &str) {
	metrics().attestations.with_label_values(&[purpose, outcome]).inc();
}

/// A vote cast.
pub fn vote(approve: bool) {
	metrics().votes.with_label_values(&[if approve { "true" } else { "false" }]).inc();
}

/// A submission's outcome.
pub fn submission(call: &str, outcome: &str) {
	metrics().submissions.with_label_values(&[call, outcome]).inc();
}

/// Submissions in flight changed by `delta`.
pub fn in_flight(delta: i64) {
	metrics().in_flight.add(delta);
}

/// Submissions in flight.
pub fn in_flight_now() -> i64 {
	metrics().in_flight.get()
}

/// Entries in the persisted outbox.
pub fn outbox_stored(entries: usize) {
	metrics().outbox.set(entries as i64);
}

/// A refused request.
pub fn refusal(kind: &str) {
	metrics().refusals.with_label_values(&[kind]).inc();
}

/// A release fetch's outcome.
pub fn fetch(outcome: &str) {
	metrics().fetches.with_label_values(&[outcome]).inc();
}

/// An invocation's outcome.
pub fn invocation(outcome: &str) {
	metrics().invocations.with_label_values(&[outcome]).inc();
}

/// A client task's outcome.
pub fn client_task(outcome: &str) {
	metrics().client_tasks.with_label_values(&[outcome]).inc();
}

/// Acknowledged receipts by what became of them (`counted`, `refused`, `batch_refused`, `kept`,
/// or why they were dropped before sending).
pub fn acks(outcome: &str, receipts: usize) {
	metrics().acks.with_label_values(&[outcome]).inc_by(receipts as u64);
}

/// Releases compiled and ready to run.
pub fn actors_loaded(n: usize) {
	metrics().loaded.set(n as i64);
}

/// The duration of one TPM job.
pub fn tpm_latency(elapsed: Duration) {
	metrics().tpm.observe(elapsed.as_secs_f64());
}

/// The chain as last seen: finalized block, best − finalized, connected.
pub fn chain(finalized: u64, lag: u64, connected: bool) {
	let m = metrics();
	m.finalized.set(finalized as i64);
	m.chain_lag.set(lag as i64);
	m.connected.set(i64::from(connected));
}

/// The connection to the node was lost.
pub fn disconnected() {
	metrics().connected.set(0);
}

/// The number of peers allowed to connect.
pub fn peers(n: usize) {
	metrics().peers.set(n as i64);
}

/// The node's state on chain (one of `unregistered`, `candidate`, `probation`, `active`,
/// `quarantined`, `exiting`).
pub fn node_state(state: &str) {
	let m = metrics();
	for s in ["unregistered", "candidate", "probation", "active", "quarantined", "exiting"] {
		m.state.with_label_values(&[s]).set(i64::from(s == state));
	}
}

/// Text exposition of every metric.
pub fn render() -> String {
	// Resident memory, read when asked (pages of /proc/self/statm).
	if let Some(pages) = std::fs::read_to_string("/proc/self/statm")
		.ok()
		.and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<i64>().ok()))
	{
		// SAFETY: sysconf has no preconditions.
		let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
		metrics().resident.set(pages.saturating_mul(page.max(0)));
	}
	let mut out = Vec::new();
	let _ = prometheus::TextEncoder::new().encode(&metrics().registry.gather(), &mut out);
	String::from_utf8(out).unwrap_or_default()
}

/// What `/health` answers: 200 with this JSON while `healthy`, 503 otherwise.
pub type Health = std::sync::Arc<dyn Fn() -> (bool, serde_json::Value) + Send + Sync>;

/// Serves `GET /metrics` and `GET /health` on `addr` until the process ends; returns the bound
/// address once listening.
pub async fn serve(addr: SocketAddr, health: Health) -> std::io::Result<SocketAddr> {
	use hyper::{Method, StatusCode};
	crate::http::serve(addr, move |request| {
		let health = health.clone();
		async move {
			match (request.method(), request.uri().path()) {
				(&Method::GET, "/metrics") => {
					crate::http::reply(StatusCode::OK, "text/plain; version=0.0.4", render())
				}
				(&Method::GET, "/health") => {
					let (ok, json) = health();
					let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
					crate::http::json(status, &json)
				}
				_ => crate::http::reply(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
			}
		}
	})
	.await
}
