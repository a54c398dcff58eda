//! What a client task's proof of trust costs, side by side in one run with what it wraps:
//! - a client task (`ClientTasks::run`: decode the signed request, sr25519 check, the
//!   client's rate, the nonce memory, the run, the ed25519-signed receipt) against the same
//!   run through the executor alone (what the local API does for an unsigned call);
//! - queueing the client's acknowledgement (`AckQueue::offer`: two signature checks on the
//!   blocking pool, a read transaction, the account lookup (answered in memory here), a durable redb commit) against
//!   the client task it acknowledges.
//!
//! `cargo test -p tea-worker --bench tasks` (`scripts/perf.sh` prints it with the rest).

#[path = "../tests/common/mod.rs"]
mod common;

use codec::Encode;
use sp_core::{sr25519, Pair, H256};
use sp_runtime::{AccountId32, MultiSignature};
use std::{sync::Arc, time::Instant};
use tea_primitives::receipt::{self, Standing, TaskTarget};
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
	tasks::{Executor, Target},
};

const NODE: [u8; 32] = [0x11; 32];
const ROUNDS: usize = 7;
const ITERS: u64 = 100;

fn median(mut v: Vec<f64>) -> f64 {
	v.sort_by(|a, b| a.partial_cmp(b).unwrap());
	v[v.len() / 2]
}

/// Every client is an account (the chain's answer is not what is measured).
struct Everyone;

impl Accounts for Everyone {
	fn exists(&self, _: AccountId32) -> futures::future::BoxFuture<'_, Result<bool, String>> {
		Box::pin(async { Ok(true) })
	}
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
	let dir = tempfile::tempdir().unwrap();
	let store = Arc::new(ContentStore::open(dir.path()).unwrap());
	let grants = ChainGrants::empty(None);
	let providers: Vec<Arc<dyn Provider>> = vec![Arc::new(Log::default())];
	let runtime =
		MiniRuntime::new(RuntimeConfig::default(), store.clone(), grants.clone(), providers)
			.unwrap();
	let executor = Arc::new(Executor::new(runtime, grants, store.clone(), 1024));
	let cid = store.put(&wat::parse_str(common::ECHO).unwrap()).unwrap();
	let release = ApprovedRelease { actor: "echo".into(), version: 1, cid, grants: vec![] };
	let key = ReceiptKey::generate();
	let public = key.public();
	let tasks = ClientTasks::new(executor.clone(), key, NODE, 1_000_000);
	executor.update(ReleaseView {
		block: 30,
		hash: H256::repeat_byte(30),
		node: Some(NodeFacts {
			standing: Standing::Serving,
			last_valid: Some(28),
			receipt_key: Some(public),
		}),
		runnable: vec![release.clone()],
		active: [("echo".to_owned(), release.cid.clone())].into(),
		..Default::default()
	});
	let operator = sp_keyring::Sr25519Keyring::Dave.to_account_id();
	let acks = Arc::new(AckQueue::new(
		Arc::new(Outbox::open(&dir.path().join("outbox.redb")).unwrap()),
		NODE,
		operator,
	));
	acks.observe(Arc::new(Everyone), true, 1, 1).unwrap();

	// Clients take turns (a client queues at most PER_CLIENT acknowledgements).
	let clients: Vec<sr25519::Pair> = (0..8)
		.map(|i| sr25519::Pair::from_string(&format!("//Client{i}"), None).unwrap())
		.collect();
	let client = |nonce: u64| &clients[nonce as usize % clients.len()];
	let input = vec![7u8; 64];
	let target = TaskTarget::Actor(b"echo".to_vec().try_into().unwrap());
	let mut nonce = 0u64;
	let signed = |nonce: u64| {
		let request = ChainTaskRequest {
			node: NODE,
			target: target.clone(),
			input: receipt::sha256(&input),
			client: client(nonce).public().into(),
			nonce,
			valid_until: 100,
		};
		let signature = MultiSignature::from(client(nonce).sign(&request.signing_payload()));
		(request.encode(), signature.encode())
	};

	let (mut task, mut run, mut ack) = (Vec::new(), Vec::new(), Vec::new());
	for _ in 0..ROUNDS {
		// The client signs outside the timing: the node's side is measured.
		let requests: Vec<_> = (0..ITERS).map(|i| signed(nonce + i)).collect();
		nonce += ITERS;
		let mut receipts = Vec::new();
		let t = Instant::now();
		for (request, signature) in &requests {
			let done = tasks.run(request, signature, input.clone()).await.unwrap();
			receipts.push(done.receipt);
		}
		task.push(t.elapsed().as_nanos() as f64 / ITERS as f64);

		let t = Instant::now();
		for _ in 0..ITERS {
			executor.run(Target::Actor("echo".into()), input.clone()).await.unwrap();
		}
		run.push(t.elapsed().as_nanos() as f64 / ITERS as f64);

		let acknowledged: Vec<_> = receipts
			.iter()
			.map(|r| {
				let by = client(r.receipt.nonce);
				let acknowledgement =
					MultiSignature::from(by.sign(&r.acknowledgement_payload()[..]));
				(r.encode(), acknowledgement.encode())
			})
			.collect();
		let t = Instant::now();
		for (r, a) in acknowledged {
			acks.offer(r, a).await.unwrap();
		}
		ack.push(t.elapsed().as_nanos() as f64 / ITERS as f64);
	}
	let (task, run, ack) = (median(task), median(run), median(ack));
	println!("| what | ours | reference | ratio |");
	println!("|---|---|---|---|");
	println!(
		"| client task (signed request checked, rate, nonce, run, signed receipt) vs the same run through the executor alone, echo, 64 bytes | {:.1} µs | {:.1} µs | {:.2}x |",
		task / 1e3,
		run / 1e3,
		task / run
	);
	println!(
		"| acknowledgement queued (2 signature checks, read transaction, account lookup stubbed, durable redb commit) vs the client task it acknowledges | {:.1} µs | {:.1} µs | {:.2}x |",
		ack / 1e3,
		task / 1e3,
		ack / task
	);
	assert_eq!(acks.len().unwrap(), ROUNDS * ITERS as usize);
}
