//! Blob transfer between two workers on loopback (`/tea/blob/1`: chunks read from the server's
//! content store, hashed and written to the client's store, the whole verified), side by side
//! in one run with its reference: a bare libp2p request-response pair (TCP, Noise, Yamux, the
//! same codec and chunk size) moving the same bytes from memory to nowhere, one chunk at a time.
//!
//! `cargo test -p tea-worker --bench blob` (`scripts/perf.sh` prints it with the rest).

use futures::StreamExt;
use libp2p::{
	identity::Keypair,
	noise,
	request_response::{self, ProtocolSupport},
	swarm::SwarmEvent,
	tcp, yamux, Multiaddr, PeerId, SwarmBuilder,
};
use std::{sync::Arc, time::Instant};
use tea_worker::{
	p2p::{
		blob::{self, ChunkRequest, ChunkResponse, BLOB_PROTOCOL, CHUNK},
		Limits, Network,
	},
	store::ContentStore,
};

const SIZE: usize = 32 << 20;
const RUNS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
	v.sort_by(|a, b| a.partial_cmp(b).unwrap());
	v[v.len() / 2]
}

fn bytes() -> Vec<u8> {
	(0..SIZE).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3]).collect()
}

async fn endpoint() -> Network {
	let (network, mut inbound) = Network::start(
		Keypair::generate_ed25519(),
		&["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
		Limits::default(),
		Box::new(|_| Ok(())),
	)
	.await
	.unwrap();
	tokio::spawn(async move { while inbound.recv().await.is_some() {} });
	network
}

/// The blob served from memory (what the bare reference serves).
struct Memory(Arc<Vec<u8>>);
impl blob::Source for Memory {
	fn chunk(&self, request: &ChunkRequest) -> ChunkResponse {
		let start = (request.offset as usize).min(self.0.len());
		let end = (start + request.len as usize).min(self.0.len());
		ChunkResponse::Chunk { total: self.0.len() as u64, bytes: self.0[start..end].to_vec() }
	}
}

/// Seconds per fetch of the whole blob through `blob::fetch`, from the server's content store
/// (`from_store`) or from its memory.
async fn tea(data: Arc<Vec<u8>>, from_store: bool) -> Vec<f64> {
	let server_dir = tempfile::tempdir().unwrap();
	let server_store = ContentStore::open(server_dir.path()).unwrap();
	let cid = server_store.put(&data).unwrap();
	let (server, client) = (endpoint().await, endpoint().await);
	if from_store {
		server.serve_blobs(Arc::new(server_store)).await.unwrap();
	} else {
		server.serve_blobs(Arc::new(Memory(data))).await.unwrap();
	}
	server.allow(vec![client.peer_id()]).await.unwrap();
	client.allow(vec![server.peer_id()]).await.unwrap();
	let peers = [(server.peer_id(), server.listening().to_vec())];
	let mut times = Vec::new();
	for run in 0..=RUNS {
		let dir = tempfile::tempdir().unwrap();
		let store = ContentStore::open(dir.path()).unwrap();
		let started = Instant::now();
		let fetched = blob::fetch(&client, &store, &cid, 1 << 30, &peers).await.unwrap();
		assert_eq!(fetched.size, SIZE as u64);
		if run > 0 {
			times.push(started.elapsed().as_secs_f64());
		}
	}
	times
}

#[derive(libp2p::swarm::NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
struct Bare {
	blob: request_response::Behaviour<blob::Codec>,
}

fn bare_swarm() -> libp2p::Swarm<Bare> {
	SwarmBuilder::with_existing_identity(Keypair::generate_ed25519())
		.with_tokio()
		.with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
		.unwrap()
		.with_behaviour(|_| Bare {
			blob: request_response::Behaviour::new(
				[(BLOB_PROTOCOL, ProtocolSupport::Full)],
				request_response::Config::default(),
			),
		})
		.unwrap()
		.with_swarm_config(|c| c.with_idle_connection_timeout(std::time::Duration::from_secs(30)))
		.build()
}

/// Seconds per transfer of the same bytes, chunk by chunk, between two bare swarms.
async fn bare(data: Arc<Vec<u8>>) -> Vec<f64> {
	let mut server = bare_swarm();
	server.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap()).unwrap();
	let addr: Multiaddr = loop {
		if let SwarmEvent::NewListenAddr { address, .. } = server.select_next_some().await {
			break address;
		}
	};
	let server_id: PeerId = *server.local_peer_id();
	tokio::spawn(async move {
		loop {
			if let SwarmEvent::Behaviour(BareEvent::Blob(request_response::Event::Message {
				message: request_response::Message::Request { request, channel, .. },
				..
			})) = server.select_next_some().await
			{
				let start = (request.offset as usize).min(SIZE);
				let end = (start + request.len as usize).min(SIZE);
				let bytes = data[start..end].to_vec();
				let _ = server
					.behaviour_mut()
					.blob
					.send_response(channel, ChunkResponse::Chunk { total: SIZE as u64, bytes });
			}
		}
	});
	let mut client = bare_swarm();
	client.add_peer_address(server_id, addr);
	let mut times = Vec::new();
	for run in 0..=RUNS {
		let started = Instant::now();
		let mut offset = 0u64;
		while offset < SIZE as u64 {
			let request = ChunkRequest { cid: vec![0; 36], offset, len: CHUNK };
			client.behaviour_mut().blob.send_request(&server_id, request);
			loop {
				match client.select_next_some().await {
					SwarmEvent::Behaviour(BareEvent::Blob(request_response::Event::Message {
						message:
							request_response::Message::Response {
								response: ChunkResponse::Chunk { bytes, .. },
								..
							},
						..
					})) => {
						offset += bytes.len() as u64;
						break;
					}
					SwarmEvent::Behaviour(BareEvent::Blob(
						request_response::Event::OutboundFailure { error, .. },
					)) => panic!("{error}"),
					_ => {}
				}
			}
		}
		if run > 0 {
			times.push(started.elapsed().as_secs_f64());
		}
	}
	times
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
	let data = Arc::new(bytes());
	let bare = median(bare(data.clone()).await);
	let memory = median(tea(data.clone(), false).await);
	let store = median(tea(data, true).await);
	let mib = (SIZE >> 20) as f64;
	println!(
		"| blob transfer, {} MiB on loopback | MiB/s (median of {RUNS}) | ratio |",
		SIZE >> 20
	);
	println!("|---|---|---|");
	println!(
		"| bare libp2p request-response, memory to memory, one chunk at a time | {:.0} | 1.00 |",
		mib / bare
	);
	for (what, secs) in [
		("`/tea/blob/1`: server's memory to client's store (hashed, fsync'd, verified)", memory),
		("`/tea/blob/1`: server's store to client's store", store),
	] {
		println!("| {what} | {:.0} | {:.2} |", mib / secs, bare / secs);
	}
}
