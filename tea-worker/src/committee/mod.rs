//! Committee duty: a member of a candidate's admission (or appeal) committee examines it off
//! chain and votes.
//!
//! The examination, in order:
//! 1. **EK certificate** ([`ekcert`]): the certificate the candidate registered certifies the
//!    EK it registered and is signed by a TPM vendor CA key on the chain's allowlist.
//! 2. **Credential activation**: the member's TPM makes a credential (32 random bytes) for the
//!    candidate's EK and an AK with the registered point and tea-worker's AK template; the
//!    candidate's worker is asked over libp2p (at its registered peer id) to activate it. Only a
//!    TPM holding that EK *and* that AK can, so the AK whose quotes the chain verifies is bound
//!    to a TPM a vendor certified.
//!
//! Either failing is a vote against. A candidate that cannot be reached is tried again with
//! each block and voted against once the review is about to close; a member that cannot
//! examine a candidate for reasons of its own (no address for the peer) does not vote.

pub mod ekcert;

use crate::{
	p2p::{Network, P2pError, Request, Response},
	tpm::{Tpm, TpmError, TpmHandle},
};
use libp2p::{Multiaddr, PeerId};
use std::{
	collections::{HashMap, HashSet},
	time::{Duration, Instant},
};

/// The candidate's side through the TPM owner ([`answer`] on the TPM thread).
pub async fn answer_on(tpm: &TpmHandle, request: Request) -> Response {
	match tpm.run(move |tpm| Ok(answer(tpm, request))).await {
		Ok(response) => response,
		Err(e) => Response::Later { reason: e.to_string() },
	}
}

/// A node as the chain registered it: what the committee examines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
	/// Its node id.
	pub node: [u8; 32],
	/// EK public key (DER SPKI).
	pub ek_public: Vec<u8>,
	/// EK certificate (DER).
	pub ek_certificate: Vec<u8>,
	/// Attestation key (SEC1 P-256).
	pub attestation_key: [u8; 65],
	/// libp2p peer id (multihash bytes).
	pub peer_id: Vec<u8>,
}

/// A member's finding about a candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
	/// Every check passed.
	Approve,
	/// A check failed: vote against, for this reason.
	Reject(String),
	/// The candidate could not be reached: ask again later.
	Unreachable(String),
	/// This member cannot examine it (no address known for the peer, a local network
	/// failure): not the candidate's fault, so no vote.
	Abstain(String),
}

/// Examines `candidate` with this member's TPM and libp2p endpoint; `known` are the peer
/// addresses this worker knows (`…/p2p/<peer id>`; [`Network::request`] picks the candidate's), `ca_keys` the chain's CA allowlist.
pub async fn examine(
	tpm: &TpmHandle,
	network: &Network,
	known: &[Multiaddr],
	candidate: &Candidate,
	ca_keys: &[Vec<u8>],
) -> Result<Finding, TpmError> {
	if let Err(e) = ekcert::verify(&candidate.ek_certificate, &candidate.ek_public, ca_keys) {
		return Ok(Finding::Reject(e.to_string()));
	}
	let Ok(peer) = PeerId::from_bytes(&candidate.peer_id) else {
		return Ok(Finding::Reject("the registered peer id is not a libp2p peer id".into()));
	};
	let mut credential = [0u8; 32];
	getrandom::getrandom(&mut credential).expect("the OS random source works");
	let (ek, ak) = (candidate.ek_public.clone(), candidate.attestation_key);
	let made = tpm.run(move |tpm| Ok(tpm.make_credential(&ek, &ak, &credential))).await?;
	let (id_object, secret) = match made {
		Ok(made) => made,
		// The registered keys are not what a tea-worker TPM has.
		Err(e @ (TpmError::NotRsa2048(_) | TpmError::NotP256(_))) => {
			return Ok(Finding::Reject(e.to_string()))
		}
		Err(e) => return Err(e),
	};
	let request = Request::Activate { node: candidate.node, id_object, secret };
	Ok(match network.request(peer, known, request).await {
		Ok(Response::Activated { credential: answer }) if answer == credential => Finding::Approve,
		Ok(Response::Activated { .. }) => Finding::Reject(
			"the candidate answered the credential challenge wrongly: its AK is not bound to \
			 its certified EK"
				.into(),
		),
		Ok(Response::Later { reason }) => {
			Finding::Unreachable(format!("the candidate said later: {reason}"))
		}
		Ok(Response::Refused { reason }) => {
			Finding::Reject(format!("the candidate could not activate the credential: {reason}"))
		}
		Err(e @ (P2pError::Request { .. } | P2pError::Malformed { .. })) => {
			Finding::Unreachable(e.to_string())
		}
		Err(e @ (P2pError::NoAddress(_) | P2pError::Transport(_) | P2pError::Key { .. })) => {
			Finding::Abstain(e.to_string())
		}
	})
}

/// Who a candidate answers: with the chain in view, only the registered peer ids of the
/// members of an open review of this node (anyone else costs it no TPM work), each at most once
/// a second; without it (development), anyone.
pub struct Gate {
	members: Option<HashSet<Vec<u8>>>,
	asked: HashMap<PeerId, Instant>,
}

/// How often one peer may ask.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

impl Gate {
	/// A gate that lets anyone through until [`Gate::set_members`] is first called.
	pub fn open() -> Self {
		Self { members: None, asked: HashMap::new() }
	}

	/// A gate that lets no one through until members are set.
	pub fn closed() -> Self {
		Self { members: Some(HashSet::new()), asked: HashMap::new() }
	}

	/// The registered peer ids (multihash bytes) of the members of this node's open review.
	pub fn set_members(&mut self, members: impl IntoIterator<Item = Vec<u8>>) {
		self.members = Some(members.into_iter().collect());
		self.asked.retain(|_, at| at.elapsed() < MIN_INTERVAL);
	}

	/// Whether `peer` may be answered now; why not otherwise.
	pub fn admit(&mut self, peer: &PeerId, now: Instant) -> Result<(), String> {
		if let Some(members) = &self.members {
			if !members.contains(&peer.to_bytes()) {
				return Err(format!("{peer} is not a member of an open review of this node"));
			}
		}
		if self.asked.get(peer).is_some_and(|at| now.duration_since(*at) < MIN_INTERVAL) {
			return Err(format!("{peer} asked less than a second ago"));
		}
		self.asked.insert(*peer, now);
		Ok(())
	}
}

/// The candidate's side: answers credential challenges made for `tpm`'s node.
pub fn answer(tpm: &mut Tpm, request: Request) -> Response {
	match request {
		Request::Activate { node, id_object, secret } => {
			let own = tpm.identity().node_id;
			if node != own {
				return Response::Refused {
					reason: format!(
						"this worker is node 0x{}, not 0x{}",
						hex::encode(own),
						hex::encode(node)
					),
				};
			}
			match tpm.activate_credential(&id_object, &secret) {
				Ok(credential) => Response::Activated { credential },
				Err(e) => Response::Refused { reason: e.to_string() },
			}
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn the_gate_admits_review_members_once_a_second() {
		use libp2p::identity::Keypair;
		let member = Keypair::generate_ed25519().public().to_peer_id();
		let stranger = Keypair::generate_ed25519().public().to_peer_id();
		let t0 = Instant::now();
		let mut gate = Gate::open();
		assert!(gate.admit(&stranger, t0).is_ok(), "no chain in view: anyone");
		let mut gate = Gate::closed();
		assert!(gate.admit(&member, t0).is_err(), "no review open yet");
		gate.set_members([member.to_bytes()]);
		assert_eq!(gate.admit(&member, t0), Ok(()));
		let err = gate.admit(&stranger, t0).unwrap_err();
		assert!(err.contains("not a member"), "{err}");
		let err = gate.admit(&member, t0 + Duration::from_millis(500)).unwrap_err();
		assert!(err.contains("less than a second"), "{err}");
		assert_eq!(gate.admit(&member, t0 + MIN_INTERVAL), Ok(()));
		gate.set_members([]);
		assert!(gate.admit(&member, t0 + 3 * MIN_INTERVAL).is_err(), "the review closed");
	}
}
