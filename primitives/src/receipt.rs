//! Client tasks and proof-of-trust receipts (no_std): what a client signs to ask a node to run
//! an actor, what the node signs back, and the checks anyone can run on a receipt.
//!
//! **The receipt key.** A worker runtime generates an ed25519 key pair in memory when it
//! starts and, before it answers any task, extends the public key into its log PCR as an
//! [`EventKind::ReceiptKey`](crate::evidence::EventKind::ReceiptKey) entry. The chain accepts
//! that entry only after a `Runtime` entry of an allowlisted binary in the same TPM cycle, and
//! keeps the latest key of the latest runtime in the node's evidence state: a quote the TPM
//! signed shows the key was extended after that runtime was launched, so the key belongs to
//! the process the measured launch started (the same trust the `Runtime` entry rests on: the
//! boot chain the policy's fixed PCRs show launches the worker only through the measuring
//! launcher). The private key never leaves the process; a relaunch makes a new one.
//!
//! **What a receipt proves.** Signed with that key, a [`Receipt`] says: the node `node`, in the
//! state of finalized block `block_hash`, ran release `cid` (`actor` version `version`) on the
//! input whose SHA-256 is `input` for `client`'s request `nonce`, and it returned the output
//! whose SHA-256 is `output`, burning `fuel_used`. [`SignedReceipt::verify_offline`] checks the
//! signature and the hashes of the bytes the client holds; [`Receipt::check_chain`] checks it
//! against what the chain said at `block_hash` ([`ChainFacts`], read by the verifier): the node
//! was serving (probation or active), its latest accepted attestation is the one named, the key
//! is the one that attestation's evidence bound, and the release was one the node could run;
//! and that the node is not quarantined now (evidence since makes what it signed suspect).
//!
//! **Acknowledged work.** A client that verified a receipt may sign it back ([`Acknowledged`]):
//! the worker batches acknowledged receipts on chain, which counts them as the node's work
//! points (`pallet-tea-rewards`).
//!
//! Every signed payload is domain-separated ([`TASK_SIGNING_DOMAIN`],
//! [`RECEIPT_SIGNING_DOMAIN`], [`ACK_SIGNING_DOMAIN`]), so that none can be replayed as a
//! manifest, a transaction or another.

use crate::{cid::ContentId, manifest::Name};
use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;
use sha2::{Digest, Sha256};
use sp_runtime::traits::{IdentifyAccount, Verify};

/// Domain separator of a client's task request signature.
pub const TASK_SIGNING_DOMAIN: &[u8] = b"tea/task/v1";
/// Domain separator of a node's receipt signature.
pub const RECEIPT_SIGNING_DOMAIN: &[u8] = b"tea/receipt/v1";
/// Domain separator of a client's acknowledgement of a receipt.
pub const ACK_SIGNING_DOMAIN: &[u8] = b"tea/ack/v1";

/// SHA-256 of `bytes` (the input and output hashes of requests and receipts).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
	Sha256::digest(bytes).into()
}

/// What a task runs.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum TaskTarget {
	/// The release of this actor that runs on the node (the rolling one where its tier is open
	/// for it, else the active one).
	Actor(Name),
	/// This release, if it may run on the node.
	Release(ContentId),
}

/// A client's signed request to run a task on one node.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct TaskRequest<AccountId, BlockNumber> {
	/// The node asked (its node id): a request for one node is worth nothing at another.
	pub node: [u8; 32],
	/// What to run.
	pub target: TaskTarget,
	/// SHA-256 of the input.
	pub input: [u8; 32],
	/// The client's account; it signs the request.
	pub client: AccountId,
	/// The client's nonce: a node runs each `(client, nonce)` once.
	pub nonce: u64,
	/// Last block at which the node may run it: a node remembers nonces until then, and
	/// refuses requests valid for longer than it remembers.
	pub valid_until: BlockNumber,
}

impl<AccountId: Encode, BlockNumber: Encode> TaskRequest<AccountId, BlockNumber> {
	/// The exact bytes the client signs: domain separator, then the SCALE encoding.
	pub fn signing_payload(&self) -> Vec<u8> {
		let mut payload = TASK_SIGNING_DOMAIN.to_vec();
		self.encode_to(&mut payload);
		payload
	}

	/// Whether `signature` is the client's signature over this request.
	pub fn verify<S>(&self, signature: &S) -> bool
	where
		S: Verify,
		S::Signer: IdentifyAccount<AccountId = AccountId>,
	{
		signature.verify(&self.signing_payload()[..], &self.client)
	}
}

/// What a node signs about a task it ran (see the module documentation).
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct Receipt<AccountId, BlockNumber, Hash> {
	/// The node that ran it.
	pub node: [u8; 32],
	/// The actor that ran.
	pub actor: Name,
	/// Its release version.
	pub version: u32,
	/// The release's CID.
	pub cid: ContentId,
	/// SHA-256 of the input.
	pub input: [u8; 32],
	/// SHA-256 of the output.
	pub output: [u8; 32],
	/// Fuel the run burned.
	pub fuel_used: u64,
	/// The client whose request it ran.
	pub client: AccountId,
	/// The client's nonce of that request.
	pub nonce: u64,
	/// The finalized block whose state allowed the run.
	pub block: BlockNumber,
	/// That block's hash: the state a verifier reads.
	pub block_hash: Hash,
	/// The block of the node's latest accepted attestation at `block`.
	pub attestation: BlockNumber,
	/// The receipt key (ed25519 public key) the node's evidence bound at `block`.
	pub key: [u8; 32],
}

/// A receipt and the node's ed25519 signature over [`Receipt::signing_payload`].
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct SignedReceipt<AccountId, BlockNumber, Hash> {
	/// What the node signed.
	pub receipt: Receipt<AccountId, BlockNumber, Hash>,
	/// The signature, with `receipt.key`.
	pub signature: [u8; 64],
}

/// A receipt the client accepted, and the client's signature over
/// [`SignedReceipt::acknowledgement_payload`]: what a worker batches on chain to earn work
/// points (`pallet-tea-rewards`). The client signs only what it verified; the chain checks both
/// signatures, so neither the worker nor the client alone can make one.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct Acknowledged<AccountId, BlockNumber, Hash, Signature> {
	/// The receipt, as the node signed it.
	pub signed: SignedReceipt<AccountId, BlockNumber, Hash>,
	/// The client's (`signed.receipt.client`) signature.
	pub acknowledgement: Signature,
}

impl<AccountId: Encode, BlockNumber: Encode, Hash: Encode, Signature>
	Acknowledged<AccountId, BlockNumber, Hash, Signature>
where
	Signature: Verify,
	Signature::Signer: IdentifyAccount<AccountId = AccountId>,
{
	/// Whether the acknowledgement is the receipt's client's signature over the signed receipt.
	pub fn acknowledgement_valid(&self) -> bool {
		self.acknowledgement
			.verify(&self.signed.acknowledgement_payload()[..], &self.signed.receipt.client)
	}
}

/// Why a receipt does not verify. Each says which check failed.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub enum ReceiptError {
	/// The signature is not the receipt key's over this receipt.
	BadSignature,
	/// The input is not the one the receipt names.
	InputMismatch,
	/// The output is not the one the receipt names.
	OutputMismatch,
	/// The chain does not know the receipt's block (or the block's number is not the one the
	/// receipt gives).
	UnknownBlock,
	/// The node was not registered at the receipt's block.
	UnknownNode,
	/// The node was registered but not serving (candidate, quarantined or exiting) at the
	/// receipt's block.
	NodeNotServing,
	/// The attestation the receipt names is not the node's latest accepted one at its block.
	UnknownAttestation,
	/// The node's evidence at the receipt's block did not bind the receipt's key.
	KeyNotBound,
	/// The release is not one the node could run at the receipt's block (not the release the
	/// chain has under that CID, or neither active nor rolling in the node's open tier).
	ReleaseNotAllowed,
	/// The node was quarantined since (evidence against it): what it signed is not trusted.
	QuarantinedSince,
}

impl ReceiptError {
	/// What the error means, for people (the CLI and the client API print it).
	pub fn reason(&self) -> &'static str {
		use ReceiptError::*;
		match self {
			BadSignature => {
				"the signature is not the receipt key's over this receipt: it was changed or forged"
			}
			InputMismatch => "the input is not the one the receipt names",
			OutputMismatch => "the output is not the one the receipt names",
			UnknownBlock => "its block is not a finalized block of this chain",
			UnknownNode => "the node was not registered at its block",
			NodeNotServing => {
				"the node was not serving (candidate, quarantined or exiting) at its block"
			}
			UnknownAttestation => {
				"the attestation it names is not the node's latest accepted one at its block"
			}
			KeyNotBound => {
				"the node's accepted evidence did not bind this receipt key at its block"
			}
			ReleaseNotAllowed => "the release was not one the node could run at its block",
			QuarantinedSince => {
				"the node is quarantined now: evidence against it since makes what it signed suspect"
			}
		}
	}
}

/// Where a node stood at a block, as a receipt check needs it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Standing {
	/// Not registered.
	#[default]
	Unknown,
	/// On probation or active: it attests and may serve tasks.
	Serving,
	/// Candidate, quarantined or exiting.
	NotServing,
}

/// What the chain said at a receipt's block, read by the verifier from the state at
/// `receipt.block_hash` (an RPC node's word, or storage proofs a light client checked).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChainFacts<BlockNumber> {
	/// The number of the block whose hash the receipt gives, if the chain has that block.
	pub block: Option<BlockNumber>,
	/// Where the node stood.
	pub standing: Standing,
	/// The block of its latest accepted attestation.
	pub last_valid: Option<BlockNumber>,
	/// The receipt key its evidence bound.
	pub receipt_key: Option<[u8; 32]>,
	/// The release (actor, version) the chain has under the receipt's CID, if any.
	pub release: Option<(Name, u32)>,
	/// Whether that release could run on the node (active, or rolling in its open tier).
	pub runnable: bool,
	/// Whether the node is quarantined now (at the verifier's latest finalized block).
	pub quarantined_now: bool,
}

impl<AccountId: Encode, BlockNumber: Encode, Hash: Encode> Receipt<AccountId, BlockNumber, Hash> {
	/// The exact bytes the node signs: domain separator, then the SCALE encoding.
	pub fn signing_payload(&self) -> Vec<u8> {
		let mut payload = RECEIPT_SIGNING_DOMAIN.to_vec();
		self.encode_to(&mut payload);
		payload
	}

	/// Signs the receipt with the node's receipt key `pair` (whose public key must be
	/// `self.key`).
	#[cfg(feature = "std")]
	pub fn sign(
		self,
		pair: &sp_core::ed25519::Pair,
	) -> SignedReceipt<AccountId, BlockNumber, Hash> {
		use sp_core::Pair;
		let signature = pair.sign(&self.signing_payload()).0;
		SignedReceipt { receipt: self, signature }
	}
}

impl<AccountId, BlockNumber: PartialEq, Hash> Receipt<AccountId, BlockNumber, Hash> {
	/// Checks the receipt against what the chain said at its block.
	pub fn check_chain(&self, facts: &ChainFacts<BlockNumber>) -> Result<(), ReceiptError> {
		if facts.block.as_ref() != Some(&self.block) {
			return Err(ReceiptError::UnknownBlock);
		}
		match facts.standing {
			Standing::Unknown => return Err(ReceiptError::UnknownNode),
			Standing::NotServing => return Err(ReceiptError::NodeNotServing),
			Standing::Serving => {}
		}
		if facts.last_valid.as_ref() != Some(&self.attestation) {
			return Err(ReceiptError::UnknownAttestation);
		}
		if facts.receipt_key != Some(self.key) {
			return Err(ReceiptError::KeyNotBound);
		}
		let same_release = facts
			.release
			.as_ref()
			.is_some_and(|(actor, version)| *actor == self.actor && *version == self.version);
		if !same_release || !facts.runnable {
			return Err(ReceiptError::ReleaseNotAllowed);
		}
		if facts.quarantined_now {
			return Err(ReceiptError::QuarantinedSince);
		}
		Ok(())
	}
}

impl<AccountId: Encode, BlockNumber: Encode, Hash: Encode>
	SignedReceipt<AccountId, BlockNumber, Hash>
{
	/// Whether the signature is `receipt.key`'s over the receipt.
	pub fn signature_valid(&self) -> bool {
		let signature = sp_core::ed25519::Signature::from_raw(self.signature);
		let key = sp_core::ed25519::Public::from_raw(self.receipt.key);
		signature.verify(&self.receipt.signing_payload()[..], &key)
	}

	/// The exact bytes a client signs to acknowledge this receipt ([`Acknowledged`]): domain
	/// separator, then the SHA-256 of the signed receipt's SCALE encoding.
	pub fn acknowledgement_payload(&self) -> Vec<u8> {
		let mut payload = ACK_SIGNING_DOMAIN.to_vec();
		payload.extend(sha256(&self.encode()));
		payload
	}

	/// The checks that need no chain: the signature, and that `input` and `output` (each when
	/// given) are the bytes the receipt names.
	pub fn verify_offline(
		&self,
		input: Option<&[u8]>,
		output: Option<&[u8]>,
	) -> Result<(), ReceiptError> {
		if !self.signature_valid() {
			return Err(ReceiptError::BadSignature);
		}
		if input.is_some_and(|input| sha256(input) != self.receipt.input) {
			return Err(ReceiptError::InputMismatch);
		}
		if output.is_some_and(|output| sha256(output) != self.receipt.output) {
			return Err(ReceiptError::OutputMismatch);
		}
		Ok(())
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use sp_core::{ed25519, Pair};
	use sp_keyring::Sr25519Keyring;
	use sp_runtime::{AccountId32, MultiSignature};

	type TestReceipt = Receipt<AccountId32, u32, [u8; 32]>;

	fn name(s: &str) -> Name {
		Name::try_from(s.as_bytes().to_vec()).unwrap()
	}

	fn key() -> ed25519::Pair {
		ed25519::Pair::from_seed(&[7; 32])
	}

	fn receipt() -> TestReceipt {
		Receipt {
			node: [1; 32],
			actor: name("echo"),
			version: 3,
			cid: ContentId::of(b"\0asm echo"),
			input: sha256(b"in"),
			output: sha256(b"out"),
			fuel_used: 1234,
			client: Sr25519Keyring::Alice.to_account_id(),
			nonce: 9,
			block: 40,
			block_hash: [4; 32],
			attestation: 38,
			key: key().public().0,
		}
	}

	fn facts() -> ChainFacts<u32> {
		ChainFacts {
			block: Some(40),
			standing: Standing::Serving,
			last_valid: Some(38),
			receipt_key: Some(key().public().0),
			release: Some((name("echo"), 3)),
			runnable: true,
			quarantined_now: false,
		}
	}

	#[test]
	fn a_signed_receipt_verifies_and_every_tampered_field_fails() {
		let signed = receipt().sign(&key());
		assert_eq!(signed.verify_offline(Some(b"in"), Some(b"out")), Ok(()));
		assert_eq!(signed.receipt.check_chain(&facts()), Ok(()));
		assert_eq!(
			signed.verify_offline(Some(b"in!"), Some(b"out")),
			Err(ReceiptError::InputMismatch)
		);
		assert_eq!(
			signed.verify_offline(Some(b"in"), Some(b"out!")),
			Err(ReceiptError::OutputMismatch)
		);

		// Every field changed after signing breaks the signature.
		let tampered: [&dyn Fn(&mut TestReceipt); 13] = [
			&|r| r.node[0] ^= 1,
			&|r| r.actor = name("other"),
			&|r| r.version += 1,
			&|r| r.cid = ContentId::of(b"other"),
			&|r| r.input[0] ^= 1,
			&|r| r.output[0] ^= 1,
			&|r| r.fuel_used -= 1,
			&|r| r.client = Sr25519Keyring::Bob.to_account_id(),
			&|r| r.nonce += 1,
			&|r| r.block += 1,
			&|r| r.block_hash[0] ^= 1,
			&|r| r.attestation -= 1,
			&|r| r.key = ed25519::Pair::from_seed(&[8; 32]).public().0,
		];
		for (i, change) in tampered.iter().enumerate() {
			let mut bad = signed.clone();
			change(&mut bad.receipt);
			assert!(!bad.signature_valid(), "field {i}");
		}
		let mut bad = signed.clone();
		bad.signature[10] ^= 1;
		assert_eq!(bad.verify_offline(Some(b"in"), Some(b"out")), Err(ReceiptError::BadSignature));
	}

	#[test]
	fn another_key_or_another_domain_does_not_sign_a_receipt() {
		// Signed by a key other than the one it names (an operator's own key).
		let mut forged = receipt().sign(&ed25519::Pair::from_seed(&[8; 32]));
		assert!(!forged.signature_valid());
		// Naming the forger's key passes the signature; the chain did not bind that key.
		forged.receipt.key = ed25519::Pair::from_seed(&[8; 32]).public().0;
		let forged = forged.receipt.sign(&ed25519::Pair::from_seed(&[8; 32]));
		assert!(forged.signature_valid());
		assert_eq!(forged.receipt.check_chain(&facts()), Err(ReceiptError::KeyNotBound));
		// The bare encoding signed (no domain): not a receipt signature.
		let r = receipt();
		let raw = SignedReceipt { signature: key().sign(&r.encode()).0, receipt: r };
		assert!(!raw.signature_valid());
	}

	#[test]
	fn each_chain_fact_is_checked_with_its_reason() {
		let r = receipt();
		let with = |f: &dyn Fn(&mut ChainFacts<u32>)| {
			let mut facts = facts();
			f(&mut facts);
			r.check_chain(&facts)
		};
		assert_eq!(with(&|f| f.block = None), Err(ReceiptError::UnknownBlock));
		assert_eq!(with(&|f| f.block = Some(41)), Err(ReceiptError::UnknownBlock));
		assert_eq!(with(&|f| f.standing = Standing::Unknown), Err(ReceiptError::UnknownNode));
		assert_eq!(with(&|f| f.standing = Standing::NotServing), Err(ReceiptError::NodeNotServing));
		assert_eq!(with(&|f| f.last_valid = None), Err(ReceiptError::UnknownAttestation));
		assert_eq!(with(&|f| f.last_valid = Some(39)), Err(ReceiptError::UnknownAttestation));
		assert_eq!(with(&|f| f.receipt_key = None), Err(ReceiptError::KeyNotBound));
		assert_eq!(with(&|f| f.receipt_key = Some([0; 32])), Err(ReceiptError::KeyNotBound));
		assert_eq!(with(&|f| f.release = None), Err(ReceiptError::ReleaseNotAllowed));
		assert_eq!(
			with(&|f| f.release = Some((name("echo"), 2))),
			Err(ReceiptError::ReleaseNotAllowed),
			"another version under the CID"
		);
		assert_eq!(
			with(&|f| f.release = Some((name("other"), 3))),
			Err(ReceiptError::ReleaseNotAllowed)
		);
		assert_eq!(with(&|f| f.runnable = false), Err(ReceiptError::ReleaseNotAllowed));
		assert_eq!(with(&|f| f.quarantined_now = true), Err(ReceiptError::QuarantinedSince));
	}

	#[test]
	fn a_task_request_is_signed_by_its_client_for_one_node() {
		let request = TaskRequest::<AccountId32, u32> {
			node: [1; 32],
			target: TaskTarget::Actor(name("echo")),
			input: sha256(b"in"),
			client: Sr25519Keyring::Alice.to_account_id(),
			nonce: 1,
			valid_until: 50,
		};
		let sig: MultiSignature =
			Sr25519Keyring::Alice.pair().sign(&request.signing_payload()).into();
		assert!(request.verify(&sig));
		let changes: [&dyn Fn(&mut TaskRequest<AccountId32, u32>); 6] = [
			&|r| r.node = [2; 32],
			&|r| r.target = TaskTarget::Release(ContentId::of(b"x")),
			&|r| r.input[0] ^= 1,
			&|r| r.client = Sr25519Keyring::Bob.to_account_id(),
			&|r| r.nonce = 2,
			&|r| r.valid_until = 51,
		];
		for change in changes {
			let mut other = request.clone();
			change(&mut other);
			assert!(!other.verify(&sig));
		}
		// A manifest signature over the same bytes without the domain is not a request's.
		let raw: MultiSignature = Sr25519Keyring::Alice.pair().sign(&request.encode()).into();
		assert!(!request.verify(&raw));
	}

	#[test]
	fn an_acknowledgement_is_the_clients_signature_over_the_signed_receipt() {
		let signed = receipt().sign(&key());
		let client = Sr25519Keyring::Alice;
		assert_eq!(signed.receipt.client, client.to_account_id());
		let ack = |by: Sr25519Keyring, payload: &[u8]| Acknowledged {
			signed: signed.clone(),
			acknowledgement: MultiSignature::from(by.pair().sign(payload)),
		};
		assert!(ack(client, &signed.acknowledgement_payload()).acknowledgement_valid());
		// Someone else's signature, or the client's over the receipt without the domain, or
		// over the node's payload, is no acknowledgement.
		assert!(
			!ack(Sr25519Keyring::Bob, &signed.acknowledgement_payload()).acknowledgement_valid()
		);
		assert!(!ack(client, &signed.encode()).acknowledgement_valid());
		assert!(!ack(client, &signed.receipt.signing_payload()).acknowledgement_valid());
		// It covers the node's signature too: the same receipt signed again (another key) is
		// another acknowledgement.
		let mut good = ack(client, &signed.acknowledgement_payload());
		good.signed.signature[0] ^= 1;
		assert!(!good.acknowledgement_valid());
		good.signed.signature[0] ^= 1;
		good.signed.receipt.fuel_used += 1;
		assert!(!good.acknowledgement_valid());
	}
}
