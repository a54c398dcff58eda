//! The daemon's local invocation API over real HTTP on loopback: the [`Executor`] runs what the
//! grants of a finalized block allow, compiles ahead what is stored, drops what is revoked, and
//! answers every refusal with a typed error. The chain's part (which releases a node may run,
//! rolling tiers) is covered end to end in `scripts/e2e/actors.test.mjs`; here the view is the
//! one `read_view` would return.

mod common;

use std::{
	collections::HashMap,
	io::{Read, Write},
	net::SocketAddr,
	sync::Arc,
	time::Duration,
};
use tea_primitives::ContentId;
use tea_worker::{
	chain::grants::{ChainGrants, ReleaseView},
	grants::ApprovedRelease,
	providers::{Log, Provider},
	runtime::{MiniRuntime, RuntimeConfig},
	store::ContentStore,
	tasks::Executor,
};

/// Never returns.
const SPIN: &str = r#"(module (memory (export "memory") 1)
	(func (export "tea_alloc") (param i32) (result i32) i32.const 1024)
	(func (export "tea_run") (param i32 i32) (result i64) (loop $l (br $l)) i64.const 0))"#;

fn release(actor: &str, version: u32, cid: &ContentId) -> ApprovedRelease {
	ApprovedRelease { actor: actor.into(), version, cid: cid.clone(), grants: vec![] }
}

/// A view at `block` in which `runnable` may run (each the release its actor runs by name) and
/// `refused` may not, for the reason given.
fn view(block: u32, runnable: &[ApprovedRelease], refused: &[(&ContentId, &str)]) -> ReleaseView {
	ReleaseView {
		block,
		runnable: runnable.to_vec(),
		active: runnable.iter().map(|r| (r.actor.clone(), r.cid.clone())).collect(),
		refused: refused
			.iter()
			.map(|(c, r)| ((*c).clone(), r.to_string()))
			.collect::<HashMap<_, _>>(),
		..Default::default()
	}
}

struct Api {
	_dir: tempfile::TempDir,
	store: Arc<ContentStore>,
	executor: Arc<Executor>,
	addr: SocketAddr,
}

async fn api(config: RuntimeConfig, max_input: usize) -> Api {
	api_stale_after(config, max_input, tea_worker::tasks::STALE_AFTER).await
}

async fn api_stale_after(config: RuntimeConfig, max_input: usize, stale: Duration) -> Api {
	let dir = tempfile::tempdir().unwrap();
	let store = Arc::new(ContentStore::open(dir.path()).unwrap());
	let grants = ChainGrants::empty(None);
	let providers: Vec<Arc<dyn Provider>> = vec![Arc::new(Log::default())];
	let runtime = MiniRuntime::new(config, store.clone(), grants.clone(), providers).unwrap();
	let executor =
		Arc::new(Executor::new(runtime, grants, store.clone(), max_input).with_stale_after(stale));
	let addr = tea_worker::daemon::api::serve("127.0.0.1:0".parse().unwrap(), executor.clone())
		.await
		.unwrap();
	Api { _dir: dir, store, executor, addr }
}

/// One HTTP/1.1 request on a fresh connection: the status and the JSON body.
async fn call(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, serde_json::Value) {
	call_with(addr, method, path, body, &format!("host: {addr}\r\n")).await
}

/// [`call`] with these header lines.
async fn call_with(
	addr: SocketAddr,
	method: &str,
	path: &str,
	body: &[u8],
	headers: &str,
) -> (u16, serde_json::Value) {
	let (method, path, body, headers) =
		(method.to_owned(), path.to_owned(), body.to_vec(), headers.to_owned());
	tokio::task::spawn_blocking(move || {
		let mut stream = std::net::TcpStream::connect(addr).unwrap();
		stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
		let head = format!(
			"{method} {path} HTTP/1.1\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n",
			body.len()
		);
		stream.write_all(head.as_bytes()).unwrap();
		// A body over the limit is cut off by the server: it may close before reading it all.
		let _ = stream.write_all(&body);
		let mut answer = Vec::new();
		let _ = stream.read_to_end(&mut answer);
		let text = String::from_utf8_lossy(&answer).into_owned();
		let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
		let json = text.split("\r\n\r\n").nth(1).and_then(|b| serde_json::from_str(b).ok());
		(status, json.unwrap_or(serde_json::Value::Null))
	})
	.await
	.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_callers_run_what_the_chain_allows_and_get_typed_refusals() {
	let api = api(RuntimeConfig::default(), 1024).await;
	let echo = api.store.put(&wat::parse_str(common::ECHO).unwrap()).unwrap();
	let v1 = release("echo", 1, &echo);
	let absent = ContentId::of(b"a release nobody has fetched yet");
	let proposed = ContentId::of(b"a proposed release");
	let (addr, executor) = (api.addr, &api.executor);

	// Before any block is read nothing runs.
	let (status, body) = call(addr, "POST", "/v1/actors/echo", b"hi").await;
	assert_eq!((status, body["error"].as_str()), (404, Some("unknown_actor")), "{body}");

	executor.update(view(
		7,
		&[v1.clone(), release("later", 1, &absent)],
		&[(&proposed, "release x v1 is Proposed on chain")],
	));
	let (status, body) = call(addr, "GET", "/v1/actors", b"").await;
	assert_eq!(status, 200);
	let listed = body["releases"].as_array().unwrap();
	assert_eq!(listed.len(), 2, "{body}");
	assert_eq!(listed[0]["actor"], "echo");
	assert_eq!(
		(listed[0]["stored"].as_bool(), listed[0]["loaded"].as_bool()),
		(Some(true), Some(false))
	);
	assert_eq!(listed[1]["stored"].as_bool(), Some(false));

	// Compiled ahead: the next invocation runs it.
	let prepared = executor.prepare().await;
	assert_eq!(prepared.len(), 1, "only what is stored is compiled");
	assert_eq!(prepared[0].0, v1);
	assert!(prepared[0].1.is_ok());
	let (_, body) = call(addr, "GET", "/v1/actors", b"").await;
	assert_eq!(body["releases"][0]["loaded"].as_bool(), Some(true), "{body}");

	// By name and by CID.
	let (status, body) = call(addr, "POST", "/v1/actors/echo", b"hello").await;
	assert_eq!(status, 200, "{body}");
	assert_eq!(body["output"], "0x68656c6c6f");
	assert_eq!(body["cid"], echo.to_text());
	assert_eq!((body["version"].as_u64(), body["block"].as_u64()), (Some(1), Some(7)));
	assert!(body["fuelUsed"].as_u64().unwrap() > 0, "{body}");
	let (status, body) = call(addr, "POST", &format!("/v1/releases/{}", echo.to_text()), b"").await;
	assert_eq!((status, body["output"].as_str()), (200, Some("0x")), "{body}");

	// Refusals, each with its kind and status.
	let cases: [(&str, &str, &[u8], u16, &str); 7] = [
		("POST", "/v1/actors/nobody", b"", 404, "unknown_actor"),
		("POST", &format!("/v1/releases/{}", proposed.to_text()), b"", 403, "not_runnable"),
		(
			"POST",
			&format!("/v1/releases/{}", ContentId::of(b"?").to_text()),
			b"",
			403,
			"not_runnable",
		),
		("POST", &format!("/v1/releases/{}", absent.to_text()), b"", 503, "not_fetched"),
		("POST", "/v1/releases/not-a-cid", b"", 400, "bad_cid"),
		("POST", "/v1/actors/echo", &[b'x'; 1025], 413, "input_too_large"),
		("GET", "/v1/actors/echo", b"", 405, "method"),
	];
	for (method, path, input, status, kind) in cases {
		let (got, body) = call(addr, method, path, input).await;
		assert_eq!((got, body["error"].as_str()), (status, Some(kind)), "{method} {path}: {body}");
		assert!(body["reason"].as_str().is_some_and(|r| !r.is_empty()), "{body}");
	}
	let (_, body) = call(addr, "POST", &format!("/v1/releases/{}", proposed.to_text()), b"").await;
	assert_eq!(
		body["reason"], "release x v1 is Proposed on chain",
		"the chain's reason reaches the caller"
	);
	let (status, _) = call(addr, "POST", "/v1/actors/echo", &[b'x'; 1024]).await;
	assert_eq!(status, 200, "exactly the limit is taken");
	let (status, _) = call(addr, "POST", "/v1/actors/", b"").await;
	assert_eq!(status, 404);

	// A web page in the operator's browser: its cross-origin request carries Origin; a DNS
	// rebinding page reaches loopback under its own host name.
	let (status, body) = call_with(
		addr,
		"POST",
		"/v1/actors/echo",
		b"x",
		&format!("host: {addr}\r\norigin: https://evil.example\r\n"),
	)
	.await;
	assert_eq!((status, body["error"].as_str()), (403, Some("cross_origin")), "{body}");
	let (status, body) =
		call_with(addr, "POST", "/v1/actors/echo", b"x", "host: evil.example:9690\r\n").await;
	assert_eq!((status, body["error"].as_str()), (403, Some("bad_host")), "{body}");

	// Revoked at the next finalized block: refused, and its compiled code is dropped.
	executor.update(view(8, &[], &[(&echo, "release echo v1 is Revoked on chain")]));
	let (status, body) = call(addr, "POST", "/v1/actors/echo", b"hi").await;
	assert_eq!(status, 404, "{body}");
	let (status, body) =
		call(addr, "POST", &format!("/v1/releases/{}", echo.to_text()), b"hi").await;
	assert_eq!(
		(status, body["reason"].as_str()),
		(403, Some("release echo v1 is Revoked on chain"))
	);
	assert!(executor.prepare().await.is_empty());
	let (_, body) = call(addr, "GET", "/v1/actors", b"").await;
	assert_eq!(body["releases"].as_array().map(Vec::len), Some(0), "{body}");

	// (The other test of this process counts other outcomes.)
	let metrics = tea_worker::metrics::render();
	assert!(
		metrics.contains("tea_worker_invocations_total{outcome=\"not_runnable\"} 4"),
		"{metrics}"
	);
	assert!(
		metrics.contains("tea_worker_invocations_total{outcome=\"input_too_large\"} 1"),
		"{metrics}"
	);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_actor_is_contained_and_callers_past_the_slots_are_told_to_retry() {
	// One slot: instances (2) over the deepest message chain (1) + 1. Fuel for longer than
	// the deadline, so that the deadline ends the spin.
	let config = RuntimeConfig {
		default_limits: tea_primitives::manifest::Limits {
			max_memory_pages: 1,
			max_fuel_per_call: 1 << 40,
		},
		timeout: Duration::from_millis(1500),
		max_instances: 2,
		max_message_depth: 1,
		..Default::default()
	};
	let api = api(config, 1024).await;
	assert_eq!(api.executor.slots(), 1);
	let spin = api.store.put(&wat::parse_str(SPIN).unwrap()).unwrap();
	let echo = api.store.put(&wat::parse_str(common::ECHO).unwrap()).unwrap();
	let not_wasm = api.store.put(b"\0asm but not really").unwrap();
	api.executor.update(view(
		1,
		&[release("spin", 1, &spin), release("echo", 1, &echo), release("junk", 1, &not_wasm)],
		&[],
	));
	let prepared = api.executor.prepare().await;
	let failed: Vec<_> =
		prepared.iter().filter(|(_, r)| r.is_err()).map(|(r, _)| r.actor.as_str()).collect();
	assert_eq!(failed, ["junk"], "{prepared:?}");
	assert!(
		api.executor.prepare().await.is_empty(),
		"code that does not compile is not compiled again"
	);
	let (status, body) = call(api.addr, "POST", "/v1/actors/junk", b"").await;
	assert_eq!((status, body["error"].as_str()), (500, Some("load_failed")), "{body}");

	let addr = api.addr;
	let spinning = tokio::spawn(call(addr, "POST", "/v1/actors/spin", b""));
	tokio::time::sleep(Duration::from_millis(300)).await;
	let (status, body) = call(addr, "POST", "/v1/actors/echo", b"hi").await;
	assert_eq!((status, body["error"].as_str()), (503, Some("busy")), "{body}");
	let (status, body) = spinning.await.unwrap();
	assert_eq!((status, body["error"].as_str()), (422, Some("timeout")), "{body}");
	// The slot is free again and the worker serves.
	let (status, body) = call(addr, "POST", "/v1/actors/echo", b"hi").await;
	assert_eq!((status, body["output"].as_str()), (200, Some("0x6869")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_reading_the_chain_stops_running_releases() {
	let api = api_stale_after(RuntimeConfig::default(), 1024, Duration::from_millis(400)).await;
	let echo = api.store.put(&wat::parse_str(common::ECHO).unwrap()).unwrap();
	api.executor.update(view(1, &[release("echo", 1, &echo)], &[]));
	let (status, _) = call(api.addr, "POST", "/v1/actors/echo", b"hi").await;
	assert_eq!(status, 200);
	// No finalized block read since: the release may have been revoked meanwhile.
	tokio::time::sleep(Duration::from_millis(600)).await;
	let (status, body) = call(api.addr, "POST", "/v1/actors/echo", b"hi").await;
	assert_eq!((status, body["error"].as_str()), (503, Some("stale")), "{body}");
	api.executor.update(view(2, &[release("echo", 1, &echo)], &[]));
	let (status, _) = call(api.addr, "POST", "/v1/actors/echo", b"hi").await;
	assert_eq!(status, 200, "serving again once a block is read");
}
