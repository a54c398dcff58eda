//! `/tea/blob/1` between real libp2p endpoints on loopback: a worker fetches a release blob
//! from a peer's content store; a peer serving wrong bytes is dropped and nothing is kept; an
//! unregistered peer gets no connection; a blob over 1 MiB moves with bounded memory (this
//! binary counts every allocation); hostile answers are errors, never panics.

use libp2p::{identity::Keypair, Multiaddr, PeerId};
use std::{
	alloc::{GlobalAlloc, Layout, System},
	sync::{
		atomic::{AtomicUsize, Ordering},
		Arc,
	},
	time::Duration,
};
use tea_primitives::ContentId;
use tea_worker::{
	p2p::{
		blob::{self, ChunkRequest, ChunkResponse, Source, CHUNK},
		Inbound, Limits, Network,
	},
	store::ContentStore,
};

/// Counts the bytes allocated now and the most ever allocated at once.
struct Counting;
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
	unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
		let p = unsafe { System.alloc(layout) };
		if !p.is_null() {
			let now = NOW.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
			PEAK.fetch_max(now, Ordering::Relaxed);
		}
		p
	}
	unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
		unsafe { System.dealloc(p, layout) };
		NOW.fetch_sub(layout.size(), Ordering::Relaxed);
	}
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Tests in this binary run one at a time (the memory test measures the whole process).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn endpoint() -> Network {
	endpoint_with(Limits::default()).await
}

async fn endpoint_with(limits: Limits) -> Network {
	let (network, inbound) = Network::start(
		Keypair::generate_ed25519(),
		&["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
		Limits { request_timeout: Duration::from_secs(10), ..limits },
		Box::new(|_| Ok(())),
	)
	.await
	.unwrap();
	// Committee requests are not part of these tests.
	tokio::spawn(async move {
		let mut inbound: tokio::sync::mpsc::Receiver<Inbound> = inbound;
		while inbound.recv().await.is_some() {}
	});
	network
}

/// Every one of `nodes` allows all the others (as registered nodes do).
async fn register(nodes: &[&Network]) {
	let all: Vec<PeerId> = nodes.iter().map(|n| n.peer_id()).collect();
	for n in nodes {
		n.allow(all.iter().copied().filter(|p| *p != n.peer_id()).collect()).await.unwrap();
	}
}

fn peer(n: &Network) -> (PeerId, Vec<Multiaddr>) {
	(n.peer_id(), n.listening().to_vec())
}

/// Deterministic bytes that are not all alike.
fn blob(len: usize) -> Vec<u8> {
	let mut x = 0x9e37_79b9_u32;
	(0..len)
		.map(|_| {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			x as u8
		})
		.collect()
}

/// A server holding `bytes` in a fresh store; returns it with the store's CID and dir.
async fn holder(bytes: &[u8]) -> (Network, ContentId, tempfile::TempDir) {
	holder_with(bytes, Limits::default()).await
}

async fn holder_with(bytes: &[u8], limits: Limits) -> (Network, ContentId, tempfile::TempDir) {
	let dir = tempfile::tempdir().unwrap();
	let store = ContentStore::open(dir.path()).unwrap();
	let cid = store.put(bytes).unwrap();
	let network = endpoint_with(limits).await;
	network.serve_blobs(Arc::new(store)).await.unwrap();
	(network, cid, dir)
}

/// Whatever the store holds, but every chunk served with one byte flipped.
struct Flipping(ContentStore);
impl Source for Flipping {
	fn chunk(&self, request: &ChunkRequest) -> ChunkResponse {
		match self.0.chunk(request) {
			ChunkResponse::Chunk { total, mut bytes } => {
				if let Some(b) = bytes.last_mut() {
					*b ^= 1;
				}
				ChunkResponse::Chunk { total, bytes }
			}
			other => other,
		}
	}
}

/// Answers every request with the same response.
struct Fixed(ChunkResponse);
impl Source for Fixed {
	fn chunk(&self, _: &ChunkRequest) -> ChunkResponse {
		self.0.clone()
	}
}

/// Serves like the store, slowly.
struct Slow(ContentStore);
impl Source for Slow {
	fn chunk(&self, request: &ChunkRequest) -> ChunkResponse {
		std::thread::sleep(Duration::from_millis(500));
		self.0.chunk(request)
	}
}

fn files_in(dir: &std::path::Path) -> usize {
	std::fs::read_dir(dir.join("blobs")).map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_fetches_a_blob_from_a_peer_and_a_peer_serving_wrong_bytes_is_dropped() {
	let _serial = SERIAL.lock().await;
	let bytes = blob(3 * CHUNK as usize + 17);
	let (honest, cid, _honest_dir) = holder(&bytes).await;

	let liar_dir = tempfile::tempdir().unwrap();
	let liar_store = ContentStore::open(liar_dir.path()).unwrap();
	liar_store.put(&bytes).unwrap();
	let liar = endpoint().await;
	liar.serve_blobs(Arc::new(Flipping(liar_store))).await.unwrap();

	let dir = tempfile::tempdir().unwrap();
	let store = ContentStore::open(dir.path()).unwrap();
	let me = endpoint().await;
	register(&[&me, &honest, &liar]).await;

	// A liar that serves a chunk of the wrong length first, then one that flips bits: each is
	// dropped, and nothing of what they sent is kept.
	let short = endpoint().await;
	short
		.serve_blobs(Arc::new(Fixed(ChunkResponse::Chunk { total: 10, bytes: vec![0; 3] })))
		.await
		.unwrap();
	register(&[&me, &honest, &liar, &short]).await;
	let err =
		blob::fetch(&me, &store, &cid, 1 << 30, &[peer(&short), peer(&liar)]).await.unwrap_err();
	assert!(err.to_string().contains("a chunk of 3 bytes"), "{err}");
	assert!(err.to_string().contains("do not hash to the CID"), "{err}");
	assert!(!store.contains(&cid));
	assert_eq!(files_in(dir.path()), 0, "no temporary file left behind");

	// The dropped liar is not asked again; the blob comes from the honest peer.
	let fetched =
		blob::fetch(&me, &store, &cid, 1 << 30, &[peer(&liar), peer(&honest)]).await.unwrap();
	assert_eq!(fetched.from, Some(honest.peer_id()));
	assert_eq!(fetched.skipped.len(), 1);
	assert_eq!(fetched.skipped[0].0, liar.peer_id());
	assert!(
		fetched.skipped[0].1.contains("dropped: it served wrong bytes"),
		"{:?}",
		fetched.skipped
	);
	assert_eq!(fetched.size, bytes.len() as u64);
	assert_eq!(store.get(&cid, 1 << 30).unwrap(), bytes);
	// Stored now: nothing to fetch.
	let again = blob::fetch(&me, &store, &cid, 1 << 30, &[]).await.unwrap();
	assert_eq!(again.from, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_peers_and_missing_blobs_are_refused_and_limits_hold() {
	let _serial = SERIAL.lock().await;
	let bytes = blob(1000);
	let (server, cid, _dir) = holder(&bytes).await;
	let dir = tempfile::tempdir().unwrap();
	let store = ContentStore::open(dir.path()).unwrap();

	// The server does not allow this peer: no connection, no bytes.
	let stranger = endpoint().await;
	stranger.allow(vec![server.peer_id()]).await.unwrap();
	let err = blob::fetch(&stranger, &store, &cid, 1 << 20, &[peer(&server)]).await.unwrap_err();
	assert!(!store.contains(&cid), "{err}");
	assert!(!err.to_string().contains("do not hash"), "no bytes at all: {err}");

	let me = endpoint().await;
	let plain = endpoint().await;
	let evil: Vec<Network> = futures::future::join_all((0..3).map(|_| endpoint())).await;
	register(&[&me, &server, &plain, &evil[0], &evil[1], &evil[2]]).await;
	// A blob it does not hold.
	let absent = ContentId::of(b"absent");
	let err = blob::fetch(&me, &store, &absent, 1 << 20, &[peer(&server)]).await.unwrap_err();
	assert!(err.to_string().contains("does not have it"), "{err}");
	// More than the caller accepts: skipped before any byte is kept.
	let err = blob::fetch(&me, &store, &cid, 999, &[peer(&server)]).await.unwrap_err();
	assert!(err.to_string().contains("more than the 999 accepted"), "{err}");
	assert_eq!(files_in(dir.path()), 0);
	// A peer that serves no blobs at all refuses.
	let err = blob::fetch(&me, &store, &cid, 1 << 20, &[peer(&plain)]).await.unwrap_err();
	assert!(err.to_string().contains("serves no blobs"), "{err}");

	// Hostile answers: a size that changes, a chunk of the wrong length, an endless "size".
	for (evil, (hostile, says)) in evil.iter().zip([
		(ChunkResponse::Chunk { total: 10, bytes: vec![0; 3] }, "a chunk of 3 bytes"),
		(ChunkResponse::Chunk { total: u64::MAX, bytes: vec![0; 5] }, "more than"),
		(ChunkResponse::Later { reason: "x\n".repeat(1000) }, "later: x x"),
	]) {
		evil.serve_blobs(Arc::new(Fixed(hostile))).await.unwrap();
		let err = blob::fetch(&me, &store, &cid, 1 << 40, &[peer(evil)]).await.unwrap_err();
		assert!(err.to_string().contains(says), "{err}");
		assert!(err.to_string().len() < 1024, "a peer's text is cut: {}", err.to_string().len());
	}
	assert_eq!(files_in(dir.path()), 0);

	// One peer asking faster than its rate: answered `Later` once over it.
	let rate = Limits { blob_requests_per_second: 5, ..Limits::default() };
	let (busy, cid, _dir) = holder_with(&bytes, rate).await;
	let asker = endpoint().await;
	register(&[&asker, &busy]).await;
	let request = ChunkRequest { cid: cid.as_bytes().to_vec(), offset: 0, len: 10 };
	let mut later = 0;
	for _ in 0..20 {
		let addrs = busy.listening().to_vec();
		match asker.chunk(busy.peer_id(), &addrs, request.clone()).await.unwrap() {
			ChunkResponse::Later { reason } if reason.contains("a second") => later += 1,
			ChunkResponse::Chunk { .. } => {}
			other => panic!("{other:?}"),
		}
	}
	assert!(later >= 1, "the rate limit answered later");

	// At most `blob_serving` chunks are being served at once, whoever asks.
	let dir = tempfile::tempdir().unwrap();
	let slow_store = ContentStore::open(dir.path()).unwrap();
	let cid = slow_store.put(&bytes).unwrap();
	let slow = endpoint_with(Limits { blob_serving: 1, ..Limits::default() }).await;
	slow.serve_blobs(Arc::new(Slow(slow_store))).await.unwrap();
	let (a, b) = (endpoint().await, endpoint().await);
	register(&[&slow, &a, &b]).await;
	let request = ChunkRequest { cid: cid.as_bytes().to_vec(), offset: 0, len: 10 };
	let first = {
		let (a, peer, addrs, request) =
			(a.clone(), slow.peer_id(), slow.listening().to_vec(), request.clone());
		tokio::spawn(async move { a.chunk(peer, &addrs, request).await })
	};
	tokio::time::sleep(Duration::from_millis(200)).await;
	let second = b.chunk(slow.peer_id(), slow.listening(), request).await.unwrap();
	assert!(
		matches!(&second, ChunkResponse::Later { reason } if reason.contains("busy")),
		"{second:?}"
	);
	assert!(matches!(first.await.unwrap().unwrap(), ChunkResponse::Chunk { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_over_1_mib_moves_with_bounded_memory() {
	let _serial = SERIAL.lock().await;
	// 24 MiB, written to the server's store straight from disk-sized pieces.
	let size = 24 << 20;
	let server_dir = tempfile::tempdir().unwrap();
	let server_store = ContentStore::open(server_dir.path()).unwrap();
	let bytes = blob(size);
	let cid = server_store.put(&bytes).unwrap();
	drop(bytes);
	let server = endpoint().await;
	server.serve_blobs(Arc::new(server_store)).await.unwrap();
	let dir = tempfile::tempdir().unwrap();
	let store = ContentStore::open(dir.path()).unwrap();
	let me = endpoint().await;
	register(&[&me, &server]).await;
	// Warm the connection up, then measure from here.
	let request = ChunkRequest { cid: cid.as_bytes().to_vec(), offset: 0, len: 1 };
	me.chunk(server.peer_id(), server.listening(), request).await.unwrap();
	let before = NOW.load(Ordering::Relaxed);
	PEAK.store(before, Ordering::Relaxed);
	let started = std::time::Instant::now();
	let fetched = blob::fetch(&me, &store, &cid, 1 << 30, &[peer(&server)]).await.unwrap();
	let peak = PEAK.load(Ordering::Relaxed) - before;
	eprintln!(
		"{} MiB in {:?}, {} KiB at most allocated",
		size >> 20,
		started.elapsed(),
		peak >> 10
	);
	assert_eq!(fetched.size, size as u64);
	assert!(store.contains(&cid));
	// Both ends live in this process; a chunk is 256 KiB. Whole, the blob would be 24 MiB.
	assert!(peak < 4 << 20, "{} KiB allocated at once for a {} MiB blob", peak >> 10, size >> 20);
	// The stored file is the blob (verified on read).
	assert_eq!(store.get(&cid, 1 << 30).unwrap().len(), size);
}
