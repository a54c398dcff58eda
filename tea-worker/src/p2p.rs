//! Worker-to-worker messages over rust-libp2p (TCP, Noise, Yamux, JSON request-response).
//!
//! Every worker has an ed25519 libp2p identity kept in a key file; its peer id is what the
//! operator registers with the node on chain, so a committee member knows whom it reaches.
//! Today the one protocol is [`COMMITTEE_PROTOCOL`]: a committee member sends a candidate a
//! credential challenge (TPM2 MakeCredential) and the candidate answers with the activated
//! credential. The answer proves itself (only the TPM holding the EK can activate it), so the
//! channel needs no trust beyond Noise's peer authentication.

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
	/// The request failed: dial error, timeout, closed connection, bad answer.
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

type Behaviour = json::Behaviour<Request, Response>;

fn swarm(key: Keypair, timeout: Duration) -> Result<Swarm<Behaviour>, P2pError> {
	let transport = |e: &dyn std::fmt::Display| P2pError::Transport(e.to_string());
	Ok(SwarmBuilder::with_existing_identity(key)
		.with_tokio()
		.with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
		.map_err(|e| transport(&e))?
		.with_behaviour(|_| {
			json::Behaviour::new(
				[(COMMITTEE_PROTOCOL, ProtocolSupport::Full)],
				request_response::Config::default().with_request_timeout(timeout),
			)
		})
		.map_err(|e| transport(&e))?
		.with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
		.build())
}

/// Serves requests on `listen` until the process ends: `on_listen` gets each full address
/// (`…/p2p/<peer id>`) as the transport binds it, `answer` answers each request.
pub async fn serve(
	key: Keypair,
	listen: Multiaddr,
	mut on_listen: impl FnMut(Multiaddr),
	mut answer: impl FnMut(PeerId, Request) -> Response,
) -> Result<(), P2pError> {
	let mut swarm = swarm(key, Duration::from_secs(30))?;
	swarm.listen_on(listen).map_err(|e| P2pError::Transport(e.to_string()))?;
	loop {
		match swarm.select_next_some().await {
			SwarmEvent::NewListenAddr { address, .. } => {
				on_listen(address.with(Protocol::P2p(*swarm.local_peer_id())))
			}
			SwarmEvent::Behaviour(Event::Message {
				peer,
				message: Message::Request { request, channel, .. },
				..
			}) => {
				let response = answer(peer, request);
				if swarm.behaviour_mut().send_response(channel, response).is_err() {
					tracing::warn!(target: LOG_TARGET, %peer, "the requester left before the answer");
				}
			}
			SwarmEvent::Behaviour(Event::InboundFailure { peer, error, .. }) => {
				tracing::warn!(target: LOG_TARGET, %peer, %error, "inbound request failed");
			}
			// Accept errors (out of file descriptors, …) do not end the listener.
			SwarmEvent::ListenerError { error, .. } => {
				tracing::warn!(target: LOG_TARGET, %error, "listener error");
			}
			SwarmEvent::ListenerClosed { reason, .. } => {
				let reason = reason.err().map_or("closed".to_string(), |e| e.to_string());
				return Err(P2pError::Transport(format!("listener closed: {reason}")));
			}
			_ => {}
		}
	}
}

/// The peer id at the end of a multiaddr (`…/p2p/<peer id>`), if any.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
	match addr.iter().last() {
		Some(Protocol::P2p(peer)) => Some(peer),
		_ => None,
	}
}

/// Sends one request to `peer` at the addresses among `known` that end in its peer id, and
/// waits up to `timeout` for the answer.
pub async fn request(
	key: Keypair,
	peer: PeerId,
	known: &[Multiaddr],
	request: Request,
	timeout: Duration,
) -> Result<Response, P2pError> {
	let addrs: Vec<_> = known.iter().filter(|a| peer_of(a) == Some(peer)).cloned().collect();
	if addrs.is_empty() {
		return Err(P2pError::NoAddress(peer));
	}
	let mut swarm = swarm(key, timeout)?;
	for addr in addrs {
		swarm.add_peer_address(peer, addr);
	}
	let id = swarm.behaviour_mut().send_request(&peer, request);
	let fail = |reason: String| P2pError::Request { peer, reason };
	let answer = async {
		loop {
			match swarm.select_next_some().await {
				SwarmEvent::Behaviour(Event::Message {
					message: Message::Response { request_id, response },
					..
				}) if request_id == id => return Ok(response),
				SwarmEvent::Behaviour(Event::OutboundFailure { request_id, error, .. })
					if request_id == id =>
				{
					return Err(fail(error.to_string()))
				}
				_ => {}
			}
		}
	};
	tokio::time::timeout(timeout + Duration::from_secs(1), answer)
		.await
		.map_err(|_| fail(format!("no answer within {} s", timeout.as_secs())))?
}

#[cfg(test)]
mod tests {
	use super::*;

	fn local() -> Multiaddr {
		"/ip4/127.0.0.1/tcp/0".parse().unwrap()
	}

	async fn server(answer: fn(PeerId, Request) -> Response) -> (PeerId, Multiaddr) {
		let key = Keypair::generate_ed25519();
		let peer = key.public().to_peer_id();
		let (tx, rx) = tokio::sync::oneshot::channel();
		let mut tx = Some(tx);
		tokio::spawn(serve(
			key,
			local(),
			move |addr| {
				if let Some(tx) = tx.take() {
					let _ = tx.send(addr);
				}
			},
			answer,
		));
		(peer, rx.await.unwrap())
	}

	fn activate() -> Request {
		Request::Activate { node: [7; 32], id_object: vec![1, 2, 3], secret: vec![4; 40] }
	}

	#[tokio::test]
	async fn a_request_reaches_the_peer_and_the_answer_comes_back() {
		let (peer, addr) = server(|_, req| match req {
			Request::Activate { node, id_object, .. } => {
				Response::Activated { credential: [&node[..1], &id_object[..]].concat() }
			}
		})
		.await;
		assert_eq!(peer_of(&addr), Some(peer));
		let answer = request(
			Keypair::generate_ed25519(),
			peer,
			&[addr],
			activate(),
			Duration::from_secs(10),
		)
		.await
		.unwrap();
		assert_eq!(answer, Response::Activated { credential: vec![7, 1, 2, 3] });
	}

	#[tokio::test]
	async fn another_peer_at_the_address_is_not_taken_for_the_one_asked() {
		let (_, addr) = server(|_, _| Response::Refused { reason: "no".into() }).await;
		// The address, but claimed for another peer id: Noise authenticates the real one.
		let impostor = Keypair::generate_ed25519().public().to_peer_id();
		let claimed = addr
			.iter()
			.filter(|p| !matches!(p, Protocol::P2p(_)))
			.collect::<Multiaddr>()
			.with(Protocol::P2p(impostor));
		let err = request(
			Keypair::generate_ed25519(),
			impostor,
			&[claimed],
			activate(),
			Duration::from_secs(10),
		)
		.await
		.unwrap_err();
		assert!(matches!(err, P2pError::Request { .. }), "{err}");
	}

	#[tokio::test]
	async fn unknown_and_unreachable_peers_are_errors() {
		let peer = Keypair::generate_ed25519().public().to_peer_id();
		let err =
			request(Keypair::generate_ed25519(), peer, &[], activate(), Duration::from_secs(2))
				.await
				.unwrap_err();
		assert!(matches!(err, P2pError::NoAddress(p) if p == peer));
		// A closed port.
		let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
		let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{peer}").parse().unwrap();
		let err =
			request(Keypair::generate_ed25519(), peer, &[addr], activate(), Duration::from_secs(2))
				.await
				.unwrap_err();
		assert!(matches!(err, P2pError::Request { .. }), "{err}");
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
