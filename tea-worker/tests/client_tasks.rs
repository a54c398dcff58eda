//! The client task API over real HTTP on loopback: a client's signed request runs the release
//! the grants allow, and the answer carries a receipt signed with the node's receipt key that
//! verifies offline and against the chain facts of the block it names; every bad request is
//! refused with its own kind. What the chain says is the view `read_view` would return (the
//! chain's part runs end to end in `scripts/e2e/nodes.test.mjs`).

mod common;

use codec::Encode;
use sp_core::{sr25519, Pair, H256};
use sp_runtime::MultiSignature;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tea_primitives::receipt::{self, ChainFacts, ReceiptError, Standing, TaskTarget};
use tea_worker::{
	chain::{
		acks::{Accounts, AckQueue},
		grants::{ChainGrants, ReleaseView},
		outbox::Outbox,
		receipts::NodeFacts,
	},
	grants::ApprovedRelease,
	providers::{Log, Provider},
	receipts::{ChainTaskRequest, ClientTasks, ReceiptKey},
	runtime::{MiniRuntime, RuntimeConfig},
	store::ContentStore,
	tasks::Executor,
};

const NODE: [u8; 32] = [0x11; 32];
const TIMEOUT: Duration = Duration::from_secs(20);

struct Node {
	_dir: tempfile::TempDir,
	executor: Arc<Executor>,
	tasks: Arc<ClientTasks>,
	acks: Arc<AckQueue>,
	url: String,
	release: ApprovedRelease,
}

async fn node(rate: u32) -> Node {
	let dir = tempfile::tempdir().unwrap();
	let store = Arc::new(ContentStore::open(dir.path()).unwrap());
	let grants = ChainGrants::empty(None);
	let providers: Vec<Arc<dyn Provider>> = vec![Arc::new(Log::default())];
	let runtime =
		MiniRuntime::new(RuntimeConfig::default(), store.clone(), grants.clone(), providers)
			.unwrap();
	let executor = Arc::new(Executor::new(runtime, grants, store.clone(), 1024));
	let cid = store.put(&wat::parse_str(common::ECHO).unwrap()).unwrap();
	let release = ApprovedRelease { actor: "echo".into(), version: 2, cid, grants: vec![] };
	let tasks = Arc::new(ClientTasks::new(executor.clone(), ReceiptKey::generate(), NODE, rate));
	// Operated by Dave.
	let operator = sp_keyring::Sr25519Keyring::Dave.to_account_id();
	let acks = Arc::new(AckQueue::new(Arc::new(Outbox::in_memory()), NODE, operator));
	// The node serves, in an era that began at block 1; the chain has Eve's account.
	let known = Known(vec![sp_keyring::Sr25519Keyring::Eve.to_account_id()]);
	acks.observe(Arc::new(known), true, 1, 1).unwrap();
	let addr: SocketAddr = tea_worker::daemon::client_api::serve(
		"127.0.0.1:0".parse().unwrap(),
		tasks.clone(),
		acks.clone(),
	)
	.await
	.unwrap();
	Node { _dir: dir, executor, tasks, acks, url: format!("http://{addr}"), release }
}

/// The accounts the chain has, as a view.
struct Known(Vec<sp_runtime::AccountId32>);

impl Accounts for Known {
	fn exists(
		&self,
		who: sp_runtime::AccountId32,
	) -> futures::future::BoxFuture<'_, Result<bool, String>> {
		Box::pin(async move { Ok(self.0.contains(&who)) })
	}
}

impl Node {
	/// The chain at `block` lets the node run the release; `facts` is what it says of the node.
	fn at(&self, block: u32, facts: Option<NodeFacts>) {
		self.executor.update(ReleaseView {
			block,
			hash: H256::repeat_byte(block as u8),
			node: facts,
			runnable: vec![self.release.clone()],
			active: [("echo".to_owned(), self.release.cid.clone())].into(),
			..Default::default()
		});
	}

	fn attested(&self, last_valid: u32) -> NodeFacts {
		NodeFacts {
			standing: Standing::Serving,
			last_valid: Some(last_valid),
			receipt_key: Some(self.tasks.key()),
		}
	}
}

fn client() -> sr25519::Pair {
	sr25519::Pair::from_string("//Eve", None).unwrap()
}

fn echo() -> TaskTarget {
	TaskTarget::Actor(b"echo".to_vec().try_into().unwrap())
}

/// POSTs `request` signed by `pair` with `input`; the status and the JSON answer.
async fn post(
	url: &str,
	request: &ChainTaskRequest,
	pair: &sr25519::Pair,
	input: &[u8],
) -> (u16, serde_json::Value) {
	let signature = MultiSignature::from(pair.sign(&request.signing_payload()));
	let body = serde_json::json!({
		"request": tea_worker::hex0x(&request.encode()),
		"signature": tea_worker::hex0x(&signature.encode()),
		"input": tea_worker::hex0x(input),
	});
	let (status, json) =
		tea_worker::http::call_json(url, hyper::Method::POST, "/v1/tasks", Some(&body), TIMEOUT)
			.await
			.unwrap();
	(status.as_u16(), json)
}

fn request(input: &[u8], nonce: u64, valid_until: u32) -> ChainTaskRequest {
	ChainTaskRequest {
		node: NODE,
		target: echo(),
		input: receipt::sha256(input),
		client: client().public().into(),
		nonce,
		valid_until,
	}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_task_answers_with_a_receipt_that_verifies_offline_and_against_its_block() {
	let node = node(1000).await;
	node.at(30, Some(node.attested(28)));
	let run = tea_worker::receipts::run_remote(&node.url, &client(), echo(), b"hello", 10, TIMEOUT)
		.await
		.unwrap();
	assert_eq!(run.output, b"hello");
	let r = &run.receipt.receipt;
	assert_eq!(run.receipt.verify_offline(Some(b"hello"), Some(b"hello")), Ok(()));
	assert_eq!(
		(r.node, &r.actor[..], r.version, &r.cid, r.block, r.attestation, r.key),
		(NODE, &b"echo"[..], 2, &node.release.cid, 30, 28, node.tasks.key())
	);
	assert_eq!(r.block_hash, H256::repeat_byte(30));
	assert_eq!(r.client, client().public().into());
	assert!(r.fuel_used > 0);
	let facts = ChainFacts {
		block: Some(30),
		standing: Standing::Serving,
		last_valid: Some(28),
		receipt_key: Some(node.tasks.key()),
		release: Some((b"echo".to_vec().try_into().unwrap(), 2)),
		runnable: true,
		quarantined_now: false,
	};
	assert_eq!(r.check_chain(&facts), Ok(()));
	// The receipt is not about other bytes.
	assert_eq!(
		run.receipt.verify_offline(Some(b"hello"), Some(b"hellp")),
		Err(ReceiptError::OutputMismatch)
	);
	assert_eq!(
		run.receipt.verify_offline(Some(b"hellp"), Some(b"hello")),
		Err(ReceiptError::InputMismatch)
	);
	// GET /v1/node tells a client what to sign for.
	let (status, info) =
		tea_worker::http::call_json(&node.url, hyper::Method::GET, "/v1/node", None, TIMEOUT)
			.await
			.unwrap();
	assert_eq!(status.as_u16(), 200);
	assert_eq!(info["nodeId"], tea_worker::hex0x(&NODE));
	assert_eq!(info["receiptKey"], tea_worker::hex0x(&node.tasks.key()));
	assert_eq!(info["block"], 30);
	// The client accepts it: the acknowledgement is queued for the node's next batch, once.
	let queued =
		tea_worker::receipts::acknowledge_remote(&node.url, &client(), &run.receipt, TIMEOUT)
			.await
			.unwrap();
	assert_eq!(queued["queued"], 1);
	let again =
		tea_worker::receipts::acknowledge_remote(&node.url, &client(), &run.receipt, TIMEOUT)
			.await
			.unwrap_err();
	assert!(again.contains("409") && again.contains("duplicate"), "{again}");
	// Only the receipt's client can accept it.
	let ferdie = sr25519::Pair::from_string("//Ferdie", None).unwrap();
	let forged =
		tea_worker::receipts::acknowledge_remote(&node.url, &ferdie, &run.receipt, TIMEOUT)
			.await
			.unwrap_err();
	assert!(forged.contains("401") && forged.contains("bad_acknowledgement"), "{forged}");
	// A client with no account on chain: its receipt could never count.
	let theirs = tea_worker::receipts::run_remote(&node.url, &ferdie, echo(), b"hi", 11, TIMEOUT)
		.await
		.unwrap();
	let unknown =
		tea_worker::receipts::acknowledge_remote(&node.url, &ferdie, &theirs.receipt, TIMEOUT)
			.await
			.unwrap_err();
	assert!(unknown.contains("403") && unknown.contains("unknown_client"), "{unknown}");
	assert_eq!(node.acks.len().unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_is_refused_with_its_kind_and_runs_nothing() {
	let node = node(1000).await;
	node.at(30, Some(node.attested(28)));
	let url = node.url.as_str();
	let kind = |answer: (u16, serde_json::Value)| {
		(answer.0, answer.1["error"].as_str().unwrap_or("").to_owned())
	};
	let ok = request(b"x", 1, 40);
	assert_eq!(post(url, &ok, &client(), b"x").await.0, 200);
	// The same request again: replayed, until it expires.
	assert_eq!(kind(post(url, &ok, &client(), b"x").await), (409, "replayed".into()));
	// Signed by someone else than its client.
	let bob = sr25519::Pair::from_string("//Bob", None).unwrap();
	assert_eq!(
		kind(post(url, &request(b"x", 2, 40), &bob, b"x").await),
		(401, "bad_signature".into())
	);
	// For another node; another input than the one signed.
	let mut other = request(b"x", 3, 40);
	other.node = [0x22; 32];
	assert_eq!(kind(post(url, &other, &client(), b"x").await), (421, "wrong_node".into()));
	assert_eq!(
		kind(post(url, &request(b"x", 4, 40), &client(), b"y").await),
		(400, "input_mismatch".into())
	);
	// Expired; valid for longer than nonces are remembered.
	assert_eq!(
		kind(post(url, &request(b"x", 5, 29), &client(), b"x").await),
		(410, "expired".into())
	);
	let far = 30 + tea_worker::receipts::MAX_VALIDITY + 1;
	assert_eq!(
		kind(post(url, &request(b"x", 6, far), &client(), b"x").await),
		(400, "too_long".into())
	);
	// What the executor refuses keeps its kind.
	let mut nobody = request(b"x", 7, 40);
	nobody.target = TaskTarget::Actor(b"nobody".to_vec().try_into().unwrap());
	assert_eq!(kind(post(url, &nobody, &client(), b"x").await), (404, "unknown_actor".into()));
	// Not JSON, not SCALE, not hex.
	for body in [
		serde_json::json!("text"),
		serde_json::json!({ "request": "0x00", "signature": "0x00", "input": "0x" }),
		serde_json::json!({ "request": "zz", "signature": "0x00", "input": "0x" }),
	] {
		let (status, answer) = tea_worker::http::call_json(
			url,
			hyper::Method::POST,
			"/v1/tasks",
			Some(&body),
			TIMEOUT,
		)
		.await
		.unwrap();
		assert_eq!(
			(status.as_u16(), answer["error"].as_str()),
			(400, Some("bad_request")),
			"{body}"
		);
	}
	// A request with trailing bytes after its SCALE encoding is not the request signed.
	let signature = MultiSignature::from(client().sign(&request(b"x", 8, 40).signing_payload()));
	let mut bytes = request(b"x", 8, 40).encode();
	bytes.push(0);
	let body = serde_json::json!({
		"request": tea_worker::hex0x(&bytes),
		"signature": tea_worker::hex0x(&signature.encode()),
		"input": "0x78",
	});
	let (status, _) =
		tea_worker::http::call_json(url, hyper::Method::POST, "/v1/tasks", Some(&body), TIMEOUT)
			.await
			.unwrap();
	assert_eq!(status.as_u16(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_receipt_is_signed_unless_it_would_verify() {
	let node = node(1000).await;
	let url = node.url.clone();
	let kind = |answer: (u16, serde_json::Value)| {
		(answer.0, answer.1["error"].as_str().unwrap_or("").to_owned())
	};
	let cases = [
		// The chain has not accepted a quote carrying this key yet.
		NodeFacts { receipt_key: None, ..node.attested(28) },
		// It bound another key (an earlier process's).
		NodeFacts { receipt_key: Some([9; 32]), ..node.attested(28) },
		// No accepted attestation.
		NodeFacts { last_valid: None, ..node.attested(28) },
		// Quarantined (or a candidate, or exiting).
		NodeFacts { standing: Standing::NotServing, ..node.attested(28) },
		NodeFacts::default(),
	];
	for (i, facts) in cases.into_iter().enumerate() {
		node.at(30, Some(facts));
		assert_eq!(
			kind(post(&url, &request(b"x", 100 + i as u64, 40), &client(), b"x").await),
			(503, "not_attested".into()),
			"case {i}"
		);
	}
	// Nothing known of the node at all.
	node.at(30, None);
	assert_eq!(kind(post(&url, &request(b"x", 200, 40), &client(), b"x").await).1, "not_attested");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_rate_is_refused_and_others_are_not() {
	let node = node(5).await;
	node.at(30, Some(node.attested(28)));
	let mut statuses = Vec::new();
	for nonce in 0..20 {
		statuses.push(post(&node.url, &request(b"x", nonce, 40), &client(), b"x").await.0);
	}
	let ok = statuses.iter().filter(|s| **s == 200).count();
	assert!((10..=15).contains(&ok), "a burst of twice the rate, then refused: {statuses:?}");
	assert!(statuses.iter().all(|s| *s == 200 || *s == 429), "{statuses:?}");
	// Another client has its own budget; its requests are signed by it.
	let dave = sr25519::Pair::from_string("//Dave", None).unwrap();
	let mut theirs = request(b"x", 0, 40);
	theirs.client = dave.public().into();
	assert_eq!(post(&node.url, &theirs, &dave, b"x").await.0, 200);
}
