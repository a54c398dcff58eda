//! The developer-signed manifest of an actor release: which providers and operations the actor
//! may call, with what budgets, until when.
//!
//! The developer signs [`Manifest::signing_payload`] with the key of their account; the chain
//! verifies it on `publish_release` and the worker enforces the grants on every host call. The
//! payload is domain-separated so that a manifest signature can never be replayed as anything
//! else (a transaction, a PoT receipt).

use crate::cid::ContentId;
use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;
use sp_runtime::{
	traits::{ConstU32, IdentifyAccount, Verify},
	BoundedVec,
};

/// Domain separator prefixed to every signed manifest.
pub const MANIFEST_SIGNING_DOMAIN: &[u8] = b"tea/manifest/v1";
/// Longest actor, provider or operation name, in bytes.
pub const MAX_NAME_LEN: u32 = 64;
/// Most operations one grant may list.
pub const MAX_OPERATIONS_PER_GRANT: u32 = 16;
/// Most grants one manifest may carry.
pub const MAX_GRANTS: u32 = 16;

/// A bounded UTF-8-agnostic name (actor, provider or operation).
pub type Name = BoundedVec<u8, ConstU32<MAX_NAME_LEN>>;

/// Resource budgets that bound every call an actor makes under a grant.
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
	serde::Serialize,
	serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
	/// Most 64 KiB Wasm pages the actor's memory may grow to.
	pub max_memory_pages: u32,
	/// Most wasmtime fuel one invocation may burn.
	pub max_fuel_per_call: u64,
}

/// Permission to call some operations of one provider.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct Grant<BlockNumber> {
	/// Provider name, e.g. `tea:keyvalue`.
	pub provider: Name,
	/// Operations granted, e.g. `get` (and not `put`).
	pub operations: BoundedVec<Name, ConstU32<MAX_OPERATIONS_PER_GRANT>>,
	/// Budgets for calls under this grant.
	pub limits: Limits,
	/// Last block at which the grant is valid, if it expires.
	pub expires_at: Option<BlockNumber>,
}

impl<BlockNumber: PartialOrd + Copy> Grant<BlockNumber> {
	/// Whether this grant allows `provider`/`operation` at block `now`.
	pub fn allows(&self, provider: &[u8], operation: &[u8], now: BlockNumber) -> bool {
		self.provider.as_slice() == provider
			&& self.operations.iter().any(|op| op.as_slice() == operation)
			&& self.expires_at.map_or(true, |last| now <= last)
	}
}

/// What a developer signs for one release of an actor.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct Manifest<AccountId, BlockNumber> {
	/// The developer account that owns the actor and signs this manifest.
	pub developer: AccountId,
	/// Actor name, unique per developer.
	pub actor: Name,
	/// Release version; strictly increasing per actor.
	pub version: u32,
	/// CID of the release's Wasm bytes.
	pub cid: ContentId,
	/// The capabilities granted to this release.
	pub grants: BoundedVec<Grant<BlockNumber>, ConstU32<MAX_GRANTS>>,
}

impl<AccountId: Encode, BlockNumber: Encode> Manifest<AccountId, BlockNumber> {
	/// The exact bytes the developer signs: domain separator, then the SCALE encoding.
	pub fn signing_payload(&self) -> Vec<u8> {
		let mut payload = MANIFEST_SIGNING_DOMAIN.to_vec();
		self.encode_to(&mut payload);
		payload
	}
}

impl<AccountId: Encode, BlockNumber: Encode> Manifest<AccountId, BlockNumber> {
	/// Whether `signature` is the developer's signature over this manifest.
	pub fn verify<S>(&self, signature: &S) -> bool
	where
		S: Verify,
		S::Signer: IdentifyAccount<AccountId = AccountId>,
	{
		signature.verify(&self.signing_payload()[..], &self.developer)
	}

	/// Signs this manifest with `pair` (the developer's key), as `tea-worker actor sign` does.
	#[cfg(feature = "std")]
	pub fn sign<P>(&self, pair: &P) -> sp_runtime::MultiSignature
	where
		P: sp_core::Pair,
		P::Signature: Into<sp_runtime::MultiSignature>,
	{
		pair.sign(&self.signing_payload()).into()
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use sp_core::{sr25519, Pair};
	use sp_keyring::Sr25519Keyring;
	use sp_runtime::MultiSignature;

	fn name(s: &str) -> Name {
		Name::try_from(s.as_bytes().to_vec()).unwrap()
	}

	fn manifest() -> Manifest<sp_runtime::AccountId32, u32> {
		Manifest {
			developer: Sr25519Keyring::Alice.to_account_id(),
			actor: name("counter"),
			version: 1,
			cid: ContentId::of(b"\0asm"),
			grants: BoundedVec::truncate_from(alloc::vec![Grant {
				provider: name("tea:keyvalue"),
				operations: BoundedVec::truncate_from(alloc::vec![name("get")]),
				limits: Limits { max_memory_pages: 16, max_fuel_per_call: 1_000_000 },
				expires_at: Some(100),
			}]),
		}
	}

	#[test]
	fn developer_signature_verifies_and_any_change_breaks_it() {
		let m = manifest();
		let sig: MultiSignature = Sr25519Keyring::Alice.pair().sign(&m.signing_payload()).into();
		assert!(m.verify(&sig));

		let mut other_version = m.clone();
		other_version.version = 2;
		assert!(!other_version.verify(&sig));

		let mut other_cid = m.clone();
		other_cid.cid = ContentId::of(b"other");
		assert!(!other_cid.verify(&sig));

		let mut more_ops = m.clone();
		more_ops.grants[0].operations.try_push(name("put")).unwrap();
		assert!(!more_ops.verify(&sig));

		// Bob cannot sign for Alice's actor.
		let bob_sig: MultiSignature = Sr25519Keyring::Bob.pair().sign(&m.signing_payload()).into();
		assert!(!m.verify(&bob_sig));
	}

	#[test]
	fn signature_without_domain_separator_is_refused() {
		let m = manifest();
		let pair = sr25519::Pair::from_string("//Alice", None).unwrap();
		let sig: MultiSignature = pair.sign(&m.encode()).into();
		assert!(!m.verify(&sig));
	}

	#[test]
	fn grants_are_per_operation_and_expire() {
		let g = &manifest().grants[0];
		assert!(g.allows(b"tea:keyvalue", b"get", 100));
		assert!(!g.allows(b"tea:keyvalue", b"put", 1));
		assert!(!g.allows(b"tea:log", b"get", 1));
		assert!(!g.allows(b"tea:keyvalue", b"get", 101));
	}
}
