//! Worker-to-worker messages over rust-libp2p (TCP, Noise, Yamux, JSON request-response).
//!
//! Every worker has an ed25519 libp2p identity kept in a key file; its peer id is what the
//! operator registers with the node on chain, so a committee member knows whom it reaches.
//! Two protocols:
//! - [`COMMITTEE_PROTOCOL`]: a committee member sends a candidate a credential challenge (TPM2
//!   MakeCredential) and the candidate answers with the activated credential. The answer proves
//!   itself (only the TPM holding the EK can activate it), so the channel needs no trust beyond
//!   Noise's peer authentication.
//! - [`blob::BLOB_PROTOCOL`]: blobs by CID in chunks, verified by the receiver.

use libp2p::{
	futures::StreamExt,
	identity::Keypair,
	multiaddr::Protocol,
	noise,
	request_response::{self, json, Event, Message, ProtocolSupport},
	swarm::SwarmEvent,
	tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder,
};
use serde::{Deserialize, Serialize};
use std::{path::Path, time::Duration};

pub mod blob;

const LOG_TARGET: &str = "tea::p2p";

/// The committee challenge protocol.
pub const COMMITTEE_PROTOCOL: StreamProtocol = StreamProtocol::new("/tea/committee/1");

/// What a committee member asks a candidate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Request {
	/// Activate a credential made for the candidate's EK and AK (TPM2 MakeCredential output).
	Activate {
		/// The node id the member believes it talks to.
		node: [u8; 32],
		/// `TPM2B_ID_OBJECT` contents.
		id_object: Vec<u8>,
		/// `TPM2B_ENCRYPTED_SECRET` contents.
		secret: Vec<u8>,
	},
}

/// A candidate's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Response {
	/// The credential the TPM released.
	Activated {
		/// The credential.
		credential: Vec<u8>,
	},
	/// The candidate could not or would not answer.
	Refused {
		/// Why.
		reason: String,
	},
	/// Not now (the requester is not, or not yet, a member of an open review of this node;
	/// or it asked too often): ask again later.
	Later {
		/// Why.
		reason: String,
	},
}

/// What can go wrong on the network.
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
	/// The key file could not be read or written, or holds no libp2p key.
	#[error("libp2p key file {path}: {reason}")]
	Key {
		/// The file.
		path: String,
		/// What is wrong.
		reason: String,
	},
	/// The transport could not be set up or could not listen.
	#[error("libp2p: {0}")]
	Transport(String),
	/// No address is known for the peer.
	#[error("no address known for peer {0}: pass its multiaddr with --peer")]
	NoAddress(PeerId),
	/// The peer answered with a frame that does not decode or breaks its bounds.
	#[error("{peer} answered with a malformed frame: {reason}")]
	Malformed {
		/// The peer.
		peer: PeerId,
		/// What was wrong.
		reason: String,
	},
	/// The request failed: dial error, timeout, closed connection.
	#[error("request to {peer} failed: {reason}")]
	Request {
		/// The peer.
		peer: PeerId,
		/// Why.
		reason: String,
	},
}

/// Loads the libp2p identity from `path`, creating it (mode 0600) if the file does not exist.
/// `dev:<Name>` is instead the well-known development key of that name ([`dev_key`]).
pub fn load_or_create_key(path: &Path) -> Result<Keypair, P2pError> {
	let fail = |reason: String| P2pError::Key { path: path.display().to_string(), reason };
	if let Some(name) = path.to_str().and_then(|p| p.strip_prefix("dev:")) {
		tracing::warn!(target: LOG_TARGET, name, "using a well-known development libp2p key");
		return Ok(dev_key(name));
	}
	match std::fs::read(path) {
		Ok(bytes) => Keypair::from_protobuf_encoding(&bytes).map_err(|e| fail(e.to_string())),
		Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
			let key = Keypair::generate_ed25519();
			let bytes = key.to_protobuf_encoding().map_err(|e| fail(e.to_string()))?;
			write_private(path, &bytes).map_err(|e| fail(e.to_string()))?;
			Ok(key)
		}
		Err(e) => Err(fail(e.to_string())),
	}
}

/// The well-known development libp2p key `name`: ed25519 with secret
/// `SHA-256("tea/dev/p2p/<name>")`. The dev chain's genesis nodes (Alice, Bob, Charlie) are
/// registered with these peer ids (`tea_primitives::tpm::DEV_PEER_IDS`). Never on a real network.
pub fn dev_key(name: &str) -> Keypair {
	use sha2::{Digest, Sha256};
	let secret: [u8; 32] = Sha256::digest(format!("tea/dev/p2p/{name}")).into();
	Keypair::ed25519_from_bytes(secret).expect("32 bytes are an ed25519 secret")
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
	use std::{io::Write, os::unix::fs::OpenOptionsExt};
	let mut file =
		std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
	file.write_all(bytes)?;
	file.sync_all()
}

/// Bounds on the libp2p endpoint: what one process serves at most, whoever asks.
#[derive(Clone, Debug)]
pub struct Limits {
	/// Established connections in total.
	pub max_connections: u32,
	/// Established connections per peer.
	pub max_connections_per_peer: u32,
	/// Connections still in their handshake.
	pub max_pending: u32,
	/// Inbound connections still in their handshake from one IPv4 address or IPv6 /64.
	pub max_pending_per_ip: u32,
	/// Concurrent request-response streams per connection.
	pub max_streams: usize,
	/// Inbound requests waiting for the worker; more are answered `Later` at once.
	pub inbound_queue: usize,
	/// How long an outbound request may take.
	pub request_timeout: Duration,
	/// Blob chunks being read for peers at once; more are answered `Later`.
	pub blob_serving: usize,
	/// Blob chunk requests one peer may make per second (a chunk is up to 256 KiB: 256 a
	/// second is 64 MiB/s).
	pub blob_requests_per_second: u32,
}

impl Default for Limits {
	fn default() -> Self {
		Self {
			max_connections: 128,
			max_connections_per_peer: 2,
			max_pending: 128,
			max_pending_per_ip: 8,
			max_streams: 8,
			inbound_queue: 32,
			request_timeout: Duration::from_secs(10),
			blob_serving: 16,
			blob_requests_per_second: 256,
		}
	}
}

#[derive(libp2p::swarm::NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
struct Behaviour {
	/// Which peer ids may hold a connection at all (with the chain in view: registered nodes).
	allowed: libp2p::allow_block_list::Behaviour<libp2p::allow_block_list::AllowedPeers>,
	/// Before `limits`: one address cannot take the pending slots everyone shares.
	pending_per_ip: PendingPerIp,
	limits: libp2p::connection_limits::Behaviour,
	committee: json::Behaviour<Request, Response>,
	blob: request_response::Behaviour<blob::Codec>,
}

/// Bounds the inbound connections still in their handshake per source address (an IPv4
/// address, an IPv6 /64: what one host holds). Without it, connections that never finish their
/// handshake, opened again as each times out, hold every pending slot of the endpoint from one
/// host and keep a candidate's reviewers out.
struct PendingPerIp {
	max: u32,
	pending: std::collections::HashMap<libp2p::swarm::ConnectionId, std::net::IpAddr>,
	per_source: std::collections::HashMap<std::net::IpAddr, u32>,
}

impl PendingPerIp {
	fn new(max: u32) -> Self {
		Self { max, pending: Default::default(), per_source: Default::default() }
	}

	/// The source an address counts against: the IPv4 address, or the IPv6 address's /64.
	fn source(addr: &Multiaddr) -> Option<std::net::IpAddr> {
		addr.iter().find_map(|p| match p {
			Protocol::Ip4(ip) => Some(std::net::IpAddr::V4(ip)),
			Protocol::Ip6(ip) => {
				let prefix = u128::from(ip) & !((1u128 << 64) - 1);
				Some(std::net::IpAddr::V6(prefix.into()))
			}
			_ => None,
		})
	}

	fn done(&mut self, connection: libp2p::swarm::ConnectionId) {
		if let Some(source) = self.pending.remove(&connection) {
			if let std::collections::hash_map::Entry::Occupied(mut count) =
				self.per_source.entry(source)
			{
				*count.get_mut() -= 1;
				if *count.get() == 0 {
					count.remove();
				}
			}
		}
	}
}

impl libp2p::swarm::NetworkBehaviour for PendingPerIp {
	type ConnectionHandler = libp2p::swarm::dummy::ConnectionHandler;
	type ToSwarm = std::convert::Infallible;

	fn handle_pending_inbound_connection(
		&mut self,
		connection: libp2p::swarm::ConnectionId,
		_local: &Multiaddr,
		remote: &Multiaddr,
	) -> Result<(), libp2p::swarm::ConnectionDenied> {
		let Some(source) = Self::source(remote) else { return Ok(()) };
		let count = self.per_source.entry(source).or_default();
		if *count >= self.max {
			crate::metrics::refusal("p2p_pending");
			return Err(libp2p::swarm::ConnectionDenied::new(format!(
				"{source} has {count} connections in their handshake already"
			)));
		}
		*count += 1;
		self.pending.insert(connection, source);
		Ok(())
	}

	fn handle_established_inbound_connection(
		&mut self,
		connection: libp2p::swarm::ConnectionId,
		_peer: PeerId,
		_local: &Multiaddr,
		_remote: &Multiaddr,
	) -> Result<libp2p::swarm::THandler<Self>, libp2p::swarm::ConnectionDenied> {
		self.done(connection);
		Ok(libp2p::swarm::dummy::ConnectionHandler)
	}

	fn handle_established_outbound_connection(
		&mut self,
		_connection: libp2p::swarm::ConnectionId,
		_peer: PeerId,
		_addr: &Multiaddr,
		_role: libp2p::core::Endpoint,
		_port_use: libp2p::core::transport::PortUse,
	) -> Result<libp2p::swarm::THandler<Self>, libp2p::swarm::ConnectionDenied> {
		Ok(libp2p::swarm::dummy::ConnectionHandler)
	}

	fn on_swarm_event(&mut self, event: libp2p::swarm::FromSwarm) {
		match event {
			libp2p::swarm::FromSwarm::ListenFailure(failure) => self.done(failure.connection_id),
			libp2p::swarm::FromSwarm::ConnectionEstablished(established) => {
				self.done(established.connection_id)
			}
			_ => {}
		}
	}

	fn on_connection_handler_event(
		&mut self,
		_peer: PeerId,
		_connection: libp2p::swarm::ConnectionId,
		event: libp2p::swarm::THandlerOutEvent<Self>,
	) {
		match event {}
	}

	fn poll(
		&mut self,
		_cx: &mut std::task::Context<'_>,
	) -> std::task::Poll<libp2p::swarm::ToSwarm<Self::ToSwarm, libp2p::swarm::THandlerInEvent<Self>>>
	{
		std::task::Poll::Pending
	}
}

/// A request from another worker, for the worker to answer through `reply`.
pub struct Inbound {
	/// Who asks (authenticated by Noise).
	pub peer: PeerId,
	/// What.
	pub request: Request,
	/// Where the answer goes; dropping it answers `Later`.
	pub reply: tokio::sync::oneshot::Sender<Response>,
}

/// Decides, before any work, whether a peer's request is queued for the worker or answered
/// `Later` at once (the committee [`crate::committee::Gate`]).
pub type Admit = Box<dyn FnMut(&PeerId) -> Result<(), String> + Send>;

enum Command {
	Request {
		peer: PeerId,
		addrs: Vec<Multiaddr>,
		request: Request,
		reply: tokio::sync::oneshot::Sender<Result<Response, P2pError>>,
	},
	Allow(Vec<PeerId>),
	Chunk {
		peer: PeerId,
		addrs: Vec<Multiaddr>,
		request: blob::ChunkRequest,
		reply: tokio::sync::oneshot::Sender<Result<blob::ChunkResponse, P2pError>>,
	},
	ServeBlobs(std::sync::Arc<dyn blob::Source>),
	Drop(PeerId),
}

/// The worker's one libp2p endpoint: a cloneable handle to the Swarm's event loop, which runs
/// for the life of the process (rust-libp2p's file-sharing example's shape). Inbound requests
/// surface on the receiver [`Network::start`] returns; outbound ones go through
/// [`Network::request`].
#[derive(Clone)]
pub struct Network {
	commands: tokio::sync::mpsc::Sender<Command>,
	peer: PeerId,
	listening: Vec<Multiaddr>,
}

impl Network {
	/// Starts the endpoint with identity `key`, listening on `listen`; returns once every
	/// address is bound. Only the peers later given to [`Network::allow`] may connect (in either
	/// direction). `admit` screens each inbound request before it is queued.
	pub async fn start(
		key: Keypair,
		listen: &[Multiaddr],
		limits: Limits,
		admit: Admit,
	) -> Result<(Network, tokio::sync::mpsc::Receiver<Inbound>), P2pError> {
		let transport = |e: &dyn std::fmt::Display| P2pError::Transport(e.to_string());
		let connection_limits = libp2p::connection_limits::ConnectionLimits::default()
			.with_max_established(Some(limits.max_connections))
			.with_max_established_per_peer(Some(limits.max_connections_per_peer))
			.with_max_pending_incoming(Some(limits.max_pending))
			.with_max_pending_outgoing(Some(limits.max_pending));
		let mut swarm = SwarmBuilder::with_existing_identity(key)
			.with_tokio()
			// libp2p-tcp 0.42's default is `nodelay(false)`, which leaves Nagle's algorithm on:
			// with delayed ACKs every request-response round trip then waits ~40 ms.
			.with_tcp(
				tcp::Config::default().nodelay(true),
				noise::Config::new,
				yamux::Config::default,
			)
			.map_err(|e| transport(&e))?
			.with_behaviour(|_| Behaviour {
				allowed: Default::default(),
				pending_per_ip: PendingPerIp::new(limits.max_pending_per_ip),
				limits: libp2p::connection_limits::Behaviour::new(connection_limits),
				committee: json::Behaviour::new(
					[(COMMITTEE_PROTOCOL, ProtocolSupport::Full)],
					request_response::Config::default()
						.with_request_timeout(limits.request_timeout)
						.with_max_concurrent_streams(limits.max_streams),
				),
				blob: request_response::Behaviour::new(
					[(blob::BLOB_PROTOCOL, ProtocolSupport::Full)],
					request_response::Config::default()
						.with_request_timeout(limits.request_timeout)
						.with_max_concurrent_streams(limits.max_streams),
				),
			})
			.map_err(|e| transport(&e))?
			.with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
			.build();
		for addr in listen {
			// TransportError's Display hides the OS error: name it.
			swarm.listen_on(addr.clone()).map_err(|e| match e {
				libp2p::TransportError::Other(io) => P2pError::Transport(format!("{addr}: {io}")),
				e => transport(&e),
			})?;
		}
		let mut listening = Vec::new();
		while listening.len() < listen.len() {
			match swarm.select_next_some().await {
				SwarmEvent::NewListenAddr { address, .. } => {
					listening.push(address.with(Protocol::P2p(*swarm.local_peer_id())))
				}
				SwarmEvent::ListenerClosed { reason, .. } => {
					let reason = reason.err().map_or("closed".to_string(), |e| e.to_string());
					return Err(P2pError::Transport(format!("cannot listen: {reason}")));
				}
				_ => {}
			}
		}
		let (commands, rx) = tokio::sync::mpsc::channel(64);
		let (inbound, inbound_rx) = tokio::sync::mpsc::channel(limits.inbound_queue.max(1));
		let peer = *swarm.local_peer_id();
		tokio::spawn(
			EventLoop {
				swarm,
				commands: rx,
				inbound,
				admit,
				pending: Default::default(),
				allowed: Default::default(),
				answering: Default::default(),
				blobs: Blobs { limits: limits.clone(), ..Default::default() },
			}
			.run(),
		);
		Ok((Network { commands, peer, listening }, inbound_rx))
	}

	/// This endpoint's peer id.
	pub fn peer_id(&self) -> PeerId {
		self.peer
	}

	/// The addresses it listens on (`…/p2p/<peer id>`).
	pub fn listening(&self) -> &[Multiaddr] {
		&self.listening
	}

	/// Only these peers may hold connections from now on (others are closed).
	pub async fn allow(&self, peers: Vec<PeerId>) -> Result<(), P2pError> {
		self.commands.send(Command::Allow(peers)).await.map_err(|_| stopped())
	}

	/// Sends `request` to `peer` at those of `known` that end in its peer id (or at addresses
	/// the endpoint already knows for it) and waits for the answer; the endpoint's request
	/// timeout bounds the wait.
	pub async fn request(
		&self,
		peer: PeerId,
		known: &[Multiaddr],
		request: Request,
	) -> Result<Response, P2pError> {
		let addrs = addresses_of(peer, known)?;
		self.ask(|reply| Command::Request { peer, addrs, request, reply }).await
	}

	/// Asks `peer` for a chunk of a blob ([`blob::fetch`] fetches whole blobs).
	pub async fn chunk(
		&self,
		peer: PeerId,
		known: &[Multiaddr],
		request: blob::ChunkRequest,
	) -> Result<blob::ChunkResponse, P2pError> {
		let addrs = addresses_of(peer, known)?;
		self.ask(|reply| Command::Chunk { peer, addrs, request, reply }).await
	}

	/// Sends the command `make` builds and waits for the answer it is given the sender of.
	async fn ask<T>(
		&self,
		make: impl FnOnce(tokio::sync::oneshot::Sender<Result<T, P2pError>>) -> Command,
	) -> Result<T, P2pError> {
		let (reply, answer) = tokio::sync::oneshot::channel();
		self.commands.send(make(reply)).await.map_err(|_| stopped())?;
		answer.await.map_err(|_| stopped())?
	}

	/// Serves blob chunks from `source` to allowed peers from now on (until then they are
	/// refused).
	pub async fn serve_blobs(
		&self,
		source: std::sync::Arc<dyn blob::Source>,
	) -> Result<(), P2pError> {
		self.commands.send(Command::ServeBlobs(source)).await.map_err(|_| stopped())
	}

	/// Drops `peer` for serving wrong bytes: closes its connections and asks it for no chunk
	/// for [`DROP_FOR`] (it stays allowed for the committee protocol; see [`Network::allow`]).
	pub async fn drop_peer(&self, peer: PeerId) {
		let _ = self.commands.send(Command::Drop(peer)).await;
	}
}

/// `/ip4|ip6/<address>/tcp/<port>[/p2p/<peer id>]`: what this transport dials (no DNS).
pub fn tcp_address(addr: &Multiaddr) -> bool {
	let mut parts = addr.iter();
	matches!(parts.next(), Some(Protocol::Ip4(_) | Protocol::Ip6(_)))
		&& matches!(parts.next(), Some(Protocol::Tcp(_)))
		&& matches!(parts.next(), None | Some(Protocol::P2p(_)))
		&& parts.next().is_none()
}

/// The addresses a node published on chain (binary multiaddrs) as dialable addresses of
/// `peer`: each must be a TCP address and gets `/p2p/<peer>`; anything else is skipped (the
/// node's operator wrote them).
pub fn published(peer: PeerId, addresses: &[Vec<u8>]) -> Vec<Multiaddr> {
	addresses
		.iter()
		.filter_map(|bytes| Multiaddr::try_from(bytes.clone()).ok())
		.filter(|addr| tcp_address(addr) && peer_of(addr).is_none())
		.map(|addr| addr.with(Protocol::P2p(peer)))
		.collect()
}

/// What of `listening` to publish: without the `/p2p/` suffix, unspecified addresses
/// (0.0.0.0, ::) left out, at most 4.
pub fn to_publish(listening: &[Multiaddr]) -> Vec<Multiaddr> {
	listening
		.iter()
		.map(|a| a.iter().filter(|p| !matches!(p, Protocol::P2p(_))).collect::<Multiaddr>())
		.filter(|a| {
			!a.iter().any(|p| match p {
				Protocol::Ip4(ip) => ip.is_unspecified(),
				Protocol::Ip6(ip) => ip.is_unspecified(),
				_ => false,
			})
		})
		.take(4)
		.collect()
}

/// Those of `known` that end in `peer`'s id (a bare address could reach another peer).
fn addresses_of(peer: PeerId, known: &[Multiaddr]) -> Result<Vec<Multiaddr>, P2pError> {
	let addrs: Vec<_> = known.iter().filter(|a| peer_of(a) == Some(peer)).cloned().collect();
	if addrs.is_empty() {
		return Err(P2pError::NoAddress(peer));
	}
	Ok(addrs)
}

/// A chunk being read for a peer.
type Serving = std::pin::Pin<
	Box<
		dyn std::future::Future<
				Output = (
					request_response::ResponseChannel<blob::ChunkResponse>,
					PeerId,
					blob::ChunkResponse,
					Option<request_response::InboundRequestId>,
				),
			> + Send,
	>,
>;

/// The blob side of the event loop.
#[derive(Default)]
struct Blobs {
	limits: Limits,
	source: Option<std::sync::Arc<dyn blob::Source>>,
	outbound: Waiting<blob::ChunkResponse>,
	serving: futures::stream::FuturesUnordered<Serving>,
	/// Requests per peer in the current second: (when it began, how many).
	rate: std::collections::HashMap<PeerId, (std::time::Instant, u32)>,
	/// Peers that served wrong bytes, not asked again until then.
	dropped: std::collections::HashMap<PeerId, std::time::Instant>,
	/// Chunk requests taken and not answered yet: being read, or their answer not yet sent to
	/// the peer (a slow reader holds it), at most `blob_serving`.
	answering: std::collections::HashSet<request_response::InboundRequestId>,
}

/// How long a peer that served wrong bytes is not asked for chunks.
pub const DROP_FOR: Duration = Duration::from_secs(600);

impl Blobs {
	/// Whether `peer` may make another request now (and counts it).
	fn admit(&mut self, peer: PeerId, now: std::time::Instant) -> Result<(), String> {
		if self.answering.len() >= self.limits.blob_serving {
			crate::metrics::refusal("blob_busy");
			return Err("busy: too many chunks being served".into());
		}
		let (since, count) = self.rate.entry(peer).or_insert((now, 0));
		if now.duration_since(*since) >= Duration::from_secs(1) {
			(*since, *count) = (now, 0);
		}
		if *count >= self.limits.blob_requests_per_second {
			crate::metrics::refusal("blob_rate");
			return Err(format!(
				"at most {} chunk requests a second",
				self.limits.blob_requests_per_second
			));
		}
		*count += 1;
		Ok(())
	}
}

/// An outbound request's failure; a frame that does not decode is the peer's fault.
fn outbound_error(peer: PeerId, error: request_response::OutboundFailure) -> P2pError {
	match error {
		request_response::OutboundFailure::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
			P2pError::Malformed { peer, reason: e.to_string() }
		}
		error => P2pError::Request { peer, reason: error.to_string() },
	}
}

/// A request to a peer this endpoint does not allow (it could not connect anyway).
fn not_allowed(peer: PeerId) -> P2pError {
	P2pError::Request { peer, reason: "not an allowed peer (not a registered node)".into() }
}

fn stopped() -> P2pError {
	P2pError::Transport("the libp2p endpoint stopped".into())
}

type Answering = std::pin::Pin<
	Box<
		dyn std::future::Future<
				Output = (request_response::ResponseChannel<Response>, PeerId, Option<Response>),
			> + Send,
	>,
>;

struct EventLoop {
	swarm: Swarm<Behaviour>,
	commands: tokio::sync::mpsc::Receiver<Command>,
	inbound: tokio::sync::mpsc::Sender<Inbound>,
	admit: Admit,
	pending: PendingRequests,
	allowed: std::collections::HashSet<PeerId>,
	/// Peers with a request queued or being answered: one at a time each, so that no peer
	/// (a reviewer included) can fill the queue in front of the others.
	answering: std::collections::HashSet<PeerId>,
	/// Blob chunks asked for and being served.
	blobs: Blobs,
}

#[derive(Default)]
struct PendingRequests {
	outbound: Waiting<Response>,
	answering: futures::stream::FuturesUnordered<Answering>,
}

impl EventLoop {
	async fn run(mut self) {
		loop {
			tokio::select! {
				event = self.swarm.select_next_some() => self.on_event(event),
				command = self.commands.recv() => match command {
					Some(command) => self.on_command(command),
					// Every handle is gone: the process is stopping.
					None => return,
				},
				Some((channel, peer, response)) = self.pending.answering.next(), if !self.pending.answering.is_empty() => {
					self.answering.remove(&peer);
					let response = response.unwrap_or_else(|| Response::Later { reason: "the worker is stopping".into() });
					if self.swarm.behaviour_mut().committee.send_response(channel, response).is_err() {
						tracing::debug!(target: LOG_TARGET, %peer, "the requester left before the answer");
					}
				}
				Some((channel, peer, response, id)) = self.blobs.serving.next(), if !self.blobs.serving.is_empty() => {
					if self.swarm.behaviour_mut().blob.send_response(channel, response).is_err() {
						tracing::debug!(target: LOG_TARGET, %peer, "the requester left before the chunk");
						if let Some(id) = id {
							self.blobs.answering.remove(&id);
						}
					}
				}
			}
		}
	}

	fn on_command(&mut self, command: Command) {
		match command {
			Command::Request { peer, addrs, request, reply } => {
				if !self.allowed.contains(&peer) {
					let _ = reply.send(Err(not_allowed(peer)));
					return;
				}
				for addr in addrs {
					self.swarm.add_peer_address(peer, addr);
				}
				let id = self.swarm.behaviour_mut().committee.send_request(&peer, request);
				self.pending.outbound.insert(id, reply);
			}
			Command::Allow(peers) => {
				let keep: std::collections::HashSet<PeerId> = peers.into_iter().collect();
				let allowed = &mut self.swarm.behaviour_mut().allowed;
				for peer in self.allowed.difference(&keep) {
					allowed.disallow_peer(*peer);
				}
				for peer in keep.difference(&self.allowed) {
					allowed.allow_peer(*peer);
				}
				self.blobs.rate.retain(|peer, _| keep.contains(peer));
				self.blobs.dropped.retain(|peer, _| keep.contains(peer));
				self.allowed = keep;
			}
			Command::Chunk { peer, addrs, request, reply } => {
				if !self.allowed.contains(&peer) {
					let _ = reply.send(Err(not_allowed(peer)));
					return;
				}
				if self
					.blobs
					.dropped
					.get(&peer)
					.is_some_and(|until| *until > std::time::Instant::now())
				{
					let reason = "dropped: it served wrong bytes".to_string();
					let _ = reply.send(Err(P2pError::Request { peer, reason }));
					return;
				}
				for addr in addrs {
					self.swarm.add_peer_address(peer, addr);
				}
				let id = self.swarm.behaviour_mut().blob.send_request(&peer, request);
				self.blobs.outbound.insert(id, reply);
			}
			Command::ServeBlobs(source) => self.blobs.source = Some(source),
			Command::Drop(peer) => {
				let now = std::time::Instant::now();
				self.blobs.dropped.retain(|_, until| *until > now);
				self.blobs.dropped.insert(peer, now + DROP_FOR);
				let _ = self.swarm.disconnect_peer_id(peer);
			}
		}
	}

	fn on_blob(&mut self, event: Event<blob::ChunkRequest, blob::ChunkResponse>) {
		match &event {
			Event::ResponseSent { request_id, .. } | Event::InboundFailure { request_id, .. } => {
				self.blobs.answering.remove(request_id);
			}
			_ => {}
		}
		let request_id = match &event {
			Event::Message { message: Message::Request { request_id, .. }, .. } => {
				Some(*request_id)
			}
			_ => None,
		};
		match to_waiter(&mut self.blobs.outbound, event) {
			None => {}
			Some((peer, request, channel)) => {
				let refuse = |reason: String| blob::ChunkResponse::Later { reason };
				let Some(source) = self.blobs.source.clone() else {
					let reason = "this worker serves no blobs".into();
					let refused = blob::ChunkResponse::Refused { reason };
					let _ = self.swarm.behaviour_mut().blob.send_response(channel, refused);
					return;
				};
				if let Err(reason) = self.blobs.admit(peer, std::time::Instant::now()) {
					let _ = self.swarm.behaviour_mut().blob.send_response(channel, refuse(reason));
					return;
				}
				self.blobs.answering.extend(request_id);
				self.blobs.serving.push(Box::pin(async move {
					let response = tokio::task::spawn_blocking(move || source.chunk(&request))
						.await
						.unwrap_or_else(|_| refuse("the read failed".into()));
					(channel, peer, response, request_id)
				}));
			}
		}
	}

	fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
		match event {
			SwarmEvent::Behaviour(BehaviourEvent::Committee(event)) => self.on_committee(event),
			SwarmEvent::Behaviour(BehaviourEvent::Blob(event)) => self.on_blob(event),
			// Accept errors (out of file descriptors, …) do not end the listener.
			SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
				tracing::debug!(target: LOG_TARGET, ?peer_id, %error, "dial failed");
			}
			SwarmEvent::ListenerError { error, .. } => {
				tracing::warn!(target: LOG_TARGET, %error, "listener error");
			}
			SwarmEvent::ListenerClosed { reason, .. } => {
				tracing::error!(target: LOG_TARGET, ?reason, "a listener closed");
			}
			_ => {}
		}
	}

	fn on_committee(&mut self, event: Event<Request, Response>) {
		match to_waiter(&mut self.pending.outbound, event) {
			None => {}
			Some((peer, request, channel)) => {
				if let Err(reason) = (self.admit)(&peer) {
					let _ = self
						.swarm
						.behaviour_mut()
						.committee
						.send_response(channel, Response::Later { reason });
					return;
				}
				let (reply, answer) = tokio::sync::oneshot::channel();
				match self.inbound.try_send(Inbound { peer, request, reply }) {
					Ok(()) => self
						.pending
						.answering
						.push(Box::pin(async move { (channel, peer, answer.await.ok()) })),
					Err(_) => {
						let reason = "busy: too many requests waiting".to_string();
						let _ = self
							.swarm
							.behaviour_mut()
							.committee
							.send_response(channel, Response::Later { reason });
					}
				}
			}
		}
	}
}

/// The waiter of each outbound request.
type Waiting<Resp> = std::collections::HashMap<
	request_response::OutboundRequestId,
	tokio::sync::oneshot::Sender<Result<Resp, P2pError>>,
>;

/// Hands the outbound half of a request-response event (an answer, a failure) to the request's
/// waiter in `waiting`; an inbound request comes back for the caller to answer.
fn to_waiter<Req, Resp>(
	waiting: &mut Waiting<Resp>,
	event: Event<Req, Resp>,
) -> Option<(PeerId, Req, request_response::ResponseChannel<Resp>)> {
	match event {
		Event::Message { peer, message: Message::Request { request, channel, .. }, .. } => {
			return Some((peer, request, channel))
		}
		Event::Message { message: Message::Response { request_id, response }, .. } => {
			if let Some(reply) = waiting.remove(&request_id) {
				let _ = reply.send(Ok(response));
			}
		}
		Event::OutboundFailure { peer, request_id, error, .. } => {
			if let Some(reply) = waiting.remove(&request_id) {
				let _ = reply.send(Err(outbound_error(peer, error)));
			}
		}
		Event::InboundFailure { peer, error, .. } => {
			tracing::debug!(target: LOG_TARGET, %peer, %error, "inbound request failed");
		}
		Event::ResponseSent { .. } => {}
	}
	None
}

/// The peer id at the end of a multiaddr (`…/p2p/<peer id>`), if any.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
	match addr.iter().last() {
		Some(Protocol::P2p(peer)) => Some(peer),
		_ => None,
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn local() -> Multiaddr {
		"/ip4/127.0.0.1/tcp/0".parse().unwrap()
	}

	fn limits() -> Limits {
		Limits { request_timeout: Duration::from_secs(5), ..Limits::default() }
	}

	/// An endpoint whose inbound requests `answer` answers.
	async fn server(answer: fn(PeerId, Request) -> Response) -> Network {
		let (network, mut inbound) =
			Network::start(Keypair::generate_ed25519(), &[local()], limits(), Box::new(|_| Ok(())))
				.await
				.unwrap();
		tokio::spawn(async move {
			while let Some(Inbound { peer, request, reply }) = inbound.recv().await {
				let _ = reply.send(answer(peer, request));
			}
		});
		network
	}

	/// An endpoint that only asks.
	async fn endpoint() -> Network {
		let (network, _inbound) =
			Network::start(Keypair::generate_ed25519(), &[local()], limits(), Box::new(|_| Ok(())))
				.await
				.unwrap();
		network
	}

	/// `a` and `b` may talk to each other.
	async fn introduce(a: &Network, b: &Network) {
		a.allow(vec![b.peer_id()]).await.unwrap();
		b.allow(vec![a.peer_id()]).await.unwrap();
	}

	fn activate() -> Request {
		Request::Activate { node: [7; 32], id_object: vec![1, 2, 3], secret: vec![4; 40] }
	}

	#[tokio::test]
	async fn a_request_reaches_the_peer_and_the_answer_comes_back() {
		let server = server(|_, req| match req {
			Request::Activate { node, id_object, .. } => {
				Response::Activated { credential: [&node[..1], &id_object[..]].concat() }
			}
		})
		.await;
		let client = endpoint().await;
		introduce(&server, &client).await;
		let addr = server.listening()[0].clone();
		assert_eq!(peer_of(&addr), Some(server.peer_id()));
		// One endpoint serves many requests over its life.
		for _ in 0..3 {
			let answer =
				client.request(server.peer_id(), &[addr.clone()], activate()).await.unwrap();
			assert_eq!(answer, Response::Activated { credential: vec![7, 1, 2, 3] });
		}
	}

	#[tokio::test]
	async fn peers_not_allowed_get_no_connection() {
		let server = server(|_, _| Response::Refused { reason: "no".into() }).await;
		let client = endpoint().await;
		let addr = server.listening()[0].clone();
		// The client allows the server, the server does not know the client.
		client.allow(vec![server.peer_id()]).await.unwrap();
		let err = client.request(server.peer_id(), &[addr.clone()], activate()).await.unwrap_err();
		assert!(matches!(err, P2pError::Request { .. }), "{err}");
		// Nor may the client dial a peer it did not allow.
		let stranger = endpoint().await;
		let err = stranger.request(server.peer_id(), &[addr], activate()).await.unwrap_err();
		assert!(matches!(err, P2pError::Request { .. }), "{err}");
	}

	#[tokio::test]
	async fn requests_the_gate_turns_away_or_that_find_the_queue_full_are_answered_later() {
		let (server, inbound) = Network::start(
			Keypair::generate_ed25519(),
			&[local()],
			Limits { inbound_queue: 1, ..limits() },
			Box::new(|peer| Err(format!("{peer} is not a reviewer"))),
		)
		.await
		.unwrap();
		let client = endpoint().await;
		introduce(&server, &client).await;
		let addr = server.listening()[0].clone();
		let answer = client.request(server.peer_id(), &[addr], activate()).await.unwrap();
		assert!(
			matches!(&answer, Response::Later { reason } if reason.contains("not a reviewer")),
			"{answer:?}"
		);
		drop(inbound);

		// Nobody takes requests off the queue: the first waits, the second finds it full.
		let (server, _inbound) = Network::start(
			Keypair::generate_ed25519(),
			&[local()],
			Limits { inbound_queue: 1, ..limits() },
			Box::new(|_| Ok(())),
		)
		.await
		.unwrap();
		introduce(&server, &client).await;
		let addr = server.listening()[0].clone();
		let first = {
			let (client, peer, addr) = (client.clone(), server.peer_id(), addr.clone());
			tokio::spawn(async move { client.request(peer, &[addr], activate()).await })
		};
		tokio::time::sleep(Duration::from_millis(500)).await;
		let answer = client.request(server.peer_id(), &[addr], activate()).await.unwrap();
		assert!(
			matches!(&answer, Response::Later { reason } if reason.contains("busy")),
			"{answer:?}"
		);
		// The waiting one times out on the client's side.
		assert!(first.await.unwrap().is_err());
	}

	/// The attack: while a candidate is under review, registered peers that are not its
	/// reviewers flood it with requests (and unregistered ones with connections); the reviewer's
	/// request must still be answered promptly. The gate answers the flood `Later` before any
	/// work is queued, and the allow-list closes unknown peers' connections after the handshake.
	#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
	async fn a_flood_does_not_delay_the_answer_to_a_reviewer() {
		let reviewer = endpoint().await;
		let reviewer_id = reviewer.peer_id();
		let (candidate, mut inbound) = Network::start(
			Keypair::generate_ed25519(),
			&[local()],
			limits(),
			Box::new(move |peer| {
				if *peer == reviewer_id {
					Ok(())
				} else {
					Err(format!("{peer} is not a reviewer"))
				}
			}),
		)
		.await
		.unwrap();
		// The TPM's work for the reviewer: slow, as a real ActivateCredential is (were the
		// flood queued behind it, 32 queued requests would cost 6.4 s).
		tokio::spawn(async move {
			while let Some(Inbound { reply, .. }) = inbound.recv().await {
				tokio::time::sleep(Duration::from_millis(200)).await;
				let _ = reply.send(Response::Activated { credential: vec![1] });
			}
		});
		let addr = candidate.listening()[0].clone();
		let mut flooders = Vec::new();
		for _ in 0..8 {
			flooders.push(endpoint().await);
		}
		let mut allowed: Vec<PeerId> = flooders.iter().map(Network::peer_id).collect();
		allowed.push(reviewer_id);
		candidate.allow(allowed).await.unwrap();
		for f in &flooders {
			f.allow(vec![candidate.peer_id()]).await.unwrap();
		}
		reviewer.allow(vec![candidate.peer_id()]).await.unwrap();
		let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
		let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
		let mut tasks = Vec::new();
		for f in flooders {
			let (addr, peer, refused, stop) =
				(addr.clone(), candidate.peer_id(), refused.clone(), stop.clone());
			tasks.push(tokio::spawn(async move {
				// Bounded: at most 200 requests each, and only while the test runs.
				for _ in 0..200 {
					if stop.load(std::sync::atomic::Ordering::Relaxed) {
						break;
					}
					if let Ok(Response::Later { .. }) =
						f.request(peer, &[addr.clone()], activate()).await
					{
						refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
					}
				}
			}));
		}
		// Unregistered peers try to connect too: they are turned away.
		for _ in 0..8 {
			let stranger = endpoint().await;
			stranger.allow(vec![candidate.peer_id()]).await.unwrap();
			let (addr, peer) = (addr.clone(), candidate.peer_id());
			tasks.push(tokio::spawn(async move {
				let answer = stranger.request(peer, &[addr], activate()).await;
				assert!(answer.is_err(), "a stranger got an answer: {answer:?}");
			}));
		}
		tokio::time::sleep(Duration::from_millis(300)).await;
		let mut slowest = Duration::ZERO;
		for _ in 0..5 {
			let asked = std::time::Instant::now();
			let answer =
				reviewer.request(candidate.peer_id(), &[addr.clone()], activate()).await.unwrap();
			assert_eq!(answer, Response::Activated { credential: vec![1] });
			slowest = slowest.max(asked.elapsed());
		}
		stop.store(true, std::sync::atomic::Ordering::Relaxed);
		for t in tasks {
			t.await.unwrap();
		}
		assert!(refused.load(std::sync::atomic::Ordering::Relaxed) > 50, "the flood ran");
		assert!(slowest < Duration::from_secs(2), "the reviewer waited {slowest:?}");
	}

	/// The attack (review finding): connections that never finish their handshake hold the
	/// endpoint's pending slots; opened again as each times out, they would keep every
	/// reviewer out. One address (an IPv4 address, an IPv6 /64) holds only a few pending slots,
	/// so a reviewer from another address still gets through.
	#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
	async fn handshakes_left_open_from_one_address_do_not_lock_reviewers_out() {
		let (server, mut inbound) = Network::start(
			Keypair::generate_ed25519(),
			&[local()],
			Limits { max_pending: 8, max_pending_per_ip: 2, ..limits() },
			Box::new(|_| Ok(())),
		)
		.await
		.unwrap();
		tokio::spawn(async move {
			while let Some(Inbound { reply, .. }) = inbound.recv().await {
				let _ = reply.send(Response::Activated { credential: vec![1] });
			}
		});
		let port = match server.listening()[0].iter().nth(1) {
			Some(Protocol::Tcp(port)) => port,
			other => panic!("{other:?}"),
		};
		// 40 TCP connections from 127.0.0.2 that say nothing (Linux routes all of 127/8 to
		// loopback), more than all the pending slots.
		let mut silent = Vec::new();
		for _ in 0..40 {
			let socket = tokio::net::TcpSocket::new_v4().unwrap();
			socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
			silent.push(socket.connect(([127, 0, 0, 1], port).into()).await.unwrap());
		}
		tokio::time::sleep(Duration::from_millis(300)).await;
		let reviewer = endpoint().await;
		introduce(&server, &reviewer).await;
		let addr = server.listening()[0].clone();
		let answer = reviewer.request(server.peer_id(), &[addr], activate()).await;
		assert_eq!(answer.unwrap(), Response::Activated { credential: vec![1] });
		drop(silent);
	}

	#[tokio::test]
	async fn another_peer_at_the_address_is_not_taken_for_the_one_asked() {
		let server = server(|_, _| Response::Refused { reason: "no".into() }).await;
		let client = endpoint().await;
		// The address, but claimed for another peer id: Noise authenticates the real one.
		let impostor = Keypair::generate_ed25519().public().to_peer_id();
		client.allow(vec![impostor]).await.unwrap();
		server.allow(vec![client.peer_id()]).await.unwrap();
		let claimed = server.listening()[0]
			.iter()
			.filter(|p| !matches!(p, Protocol::P2p(_)))
			.collect::<Multiaddr>()
			.with(Protocol::P2p(impostor));
		let err = client.request(impostor, &[claimed], activate()).await.unwrap_err();
		assert!(matches!(err, P2pError::Request { .. }), "{err}");
	}

	#[tokio::test]
	async fn unknown_and_unreachable_peers_are_errors() {
		let client = endpoint().await;
		let peer = Keypair::generate_ed25519().public().to_peer_id();
		client.allow(vec![peer]).await.unwrap();
		let err = client.request(peer, &[], activate()).await.unwrap_err();
		assert!(matches!(err, P2pError::NoAddress(p) if p == peer));
		// A closed port.
		let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
		let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{peer}").parse().unwrap();
		let err = client.request(peer, &[addr], activate()).await.unwrap_err();
		assert!(matches!(err, P2pError::Request { .. }), "{err}");
	}

	#[test]
	fn published_addresses_are_dialable_tcp_addresses_of_the_registered_peer() {
		let peer = Keypair::generate_ed25519().public().to_peer_id();
		let other = Keypair::generate_ed25519().public().to_peer_id();
		let good: Multiaddr = "/ip4/10.0.0.1/tcp/4001".parse().unwrap();
		let claimed: Multiaddr = format!("/ip4/10.0.0.2/tcp/1/p2p/{other}").parse().unwrap();
		let dns: Multiaddr = "/dns4/example.org/tcp/1".parse().unwrap();
		let found =
			published(peer, &[good.to_vec(), claimed.to_vec(), dns.to_vec(), vec![0xff, 0xff]]);
		assert_eq!(found, vec![good.clone().with(Protocol::P2p(peer))]);
		let listening: Vec<Multiaddr> = vec![
			format!("/ip4/0.0.0.0/tcp/1/p2p/{peer}").parse().unwrap(),
			format!("/ip4/127.0.0.1/tcp/2/p2p/{peer}").parse().unwrap(),
		];
		assert_eq!(
			to_publish(&listening),
			vec!["/ip4/127.0.0.1/tcp/2".parse::<Multiaddr>().unwrap()]
		);
	}

	#[test]
	fn the_dev_keys_are_the_genesis_nodes_peer_ids() {
		for (name, genesis) in
			["Alice", "Bob", "Charlie"].iter().zip(tea_primitives::tpm::DEV_PEER_IDS)
		{
			let key = load_or_create_key(Path::new(&format!("dev:{name}"))).unwrap();
			assert_eq!(key.public().to_peer_id().to_bytes(), genesis.to_vec(), "{name}");
		}
		assert_ne!(dev_key("Alice").public(), dev_key("Bob").public());
	}

	#[test]
	fn the_key_file_is_created_once_and_reused() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("p2p.key");
		let first = load_or_create_key(&path).unwrap();
		let again = load_or_create_key(&path).unwrap();
		assert_eq!(first.public().to_peer_id(), again.public().to_peer_id());
		use std::os::unix::fs::PermissionsExt;
		assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
		std::fs::write(dir.path().join("bad.key"), b"not a key").unwrap();
		let err = load_or_create_key(&dir.path().join("bad.key")).unwrap_err();
		assert!(matches!(err, P2pError::Key { .. }), "{err}");
	}
}
