//! Content IDs of Wasm blobs: CIDv1 with the `raw` codec and a sha2-256 multihash.
//!
//! The chain stores a CID in its canonical binary form (36 bytes); people and the CLI use the
//! multibase base32 text form (`bafkrei...`). Parsing is done by the `cid` crate (the
//! multiformats implementation) and then narrowed to what TEA accepts, each refusal with its
//! own error.

use alloc::string::{String, ToString};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;
use sha2::{Digest, Sha256};
use sp_runtime::{traits::ConstU32, BoundedVec};

/// Multicodec code of the `raw` codec: the CID names bytes, not a DAG.
pub const RAW_CODEC: u64 = 0x55;
/// Multihash code of sha2-256.
pub const SHA2_256: u64 = 0x12;
/// Length of a sha2-256 digest.
pub const DIGEST_LEN: usize = 32;
/// Upper bound on the binary length of any CID this crate accepts (a raw/sha2-256 CIDv1 is 36).
pub const MAX_CID_LEN: u32 = 64;

/// Why bytes or text are not a TEA content ID.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo)]
pub enum CidError {
	/// Longer than [`MAX_CID_LEN`] bytes.
	TooLong,
	/// Not a CID at all (bad varint, bad multibase, truncated, trailing bytes).
	Malformed,
	/// A CIDv0; TEA requires CIDv1.
	NotVersion1,
	/// Not the `raw` codec (0x55).
	UnsupportedCodec,
	/// Not a sha2-256 multihash.
	UnsupportedHash,
	/// The multihash digest is not 32 bytes.
	BadDigestLength,
}

impl core::fmt::Display for CidError {
	fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
		f.write_str(match self {
			Self::TooLong => "CID longer than 64 bytes",
			Self::Malformed => "not a CID",
			Self::NotVersion1 => "CIDv0 is not accepted: use CIDv1",
			Self::UnsupportedCodec => "CID codec must be raw (0x55)",
			Self::UnsupportedHash => "CID multihash must be sha2-256 (0x12)",
			Self::BadDigestLength => "sha2-256 digest must be 32 bytes",
		})
	}
}

/// A validated CIDv1 (raw codec, sha2-256) in canonical binary form.
#[derive(
	Clone,
	PartialEq,
	Eq,
	PartialOrd,
	Ord,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub struct ContentId(BoundedVec<u8, ConstU32<MAX_CID_LEN>>);

// By hand: `BoundedVec` is `Hash` only with `std`, and the runtime builds without it.
impl core::hash::Hash for ContentId {
	fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
		self.0.as_slice().hash(state);
	}
}

impl ContentId {
	/// The CID of `content`.
	pub fn of(content: &[u8]) -> Self {
		let digest: [u8; DIGEST_LEN] = Sha256::digest(content).into();
		Self::from_digest(&digest)
	}

	/// The CID with the given sha2-256 digest.
	pub fn from_digest(digest: &[u8; DIGEST_LEN]) -> Self {
		// <version 1><codec raw><multihash sha2-256><length 32><digest>: all single-byte varints.
		let mut bytes = alloc::vec::Vec::with_capacity(4 + DIGEST_LEN);
		bytes.extend_from_slice(&[0x01, RAW_CODEC as u8, SHA2_256 as u8, DIGEST_LEN as u8]);
		bytes.extend_from_slice(digest);
		// 36 <= MAX_CID_LEN, so the bound holds by construction.
		Self(BoundedVec::truncate_from(bytes))
	}

	/// Parses and validates a binary CID. The input must be exactly one canonical CID.
	pub fn from_bytes(bytes: &[u8]) -> Result<Self, CidError> {
		if bytes.len() > MAX_CID_LEN as usize {
			return Err(CidError::TooLong);
		}
		let cid = cid::Cid::try_from(bytes).map_err(|_| CidError::Malformed)?;
		let id = Self::validate(&cid)?;
		// Reject non-canonical encodings (e.g. over-long varints) and trailing bytes: one CID,
		// one byte string, so storage keys and signatures cannot be forged by re-encoding.
		if id.0.as_slice() != bytes {
			return Err(CidError::Malformed);
		}
		Ok(id)
	}

	/// Parses the multibase text form (e.g. `bafkrei...`).
	pub fn parse(text: &str) -> Result<Self, CidError> {
		if text.len() > 2 * MAX_CID_LEN as usize {
			return Err(CidError::TooLong);
		}
		let cid = cid::Cid::try_from(text).map_err(|_| CidError::Malformed)?;
		Self::validate(&cid)
	}

	fn validate(cid: &cid::Cid) -> Result<Self, CidError> {
		if cid.version() != cid::Version::V1 {
			return Err(CidError::NotVersion1);
		}
		if cid.codec() != RAW_CODEC {
			return Err(CidError::UnsupportedCodec);
		}
		let hash = cid.hash();
		if hash.code() != SHA2_256 {
			return Err(CidError::UnsupportedHash);
		}
		let digest: &[u8; DIGEST_LEN] =
			hash.digest().try_into().map_err(|_| CidError::BadDigestLength)?;
		Ok(Self::from_digest(digest))
	}

	/// The sha2-256 digest the CID names.
	pub fn digest(&self) -> &[u8] {
		&self.0[4..]
	}

	/// Whether `content` is exactly the bytes this CID names.
	pub fn matches(&self, content: &[u8]) -> bool {
		Sha256::digest(content).as_slice() == self.digest()
	}

	/// The canonical binary form.
	pub fn as_bytes(&self) -> &[u8] {
		&self.0
	}

	/// The multibase base32 text form (`bafkrei...`), as IPFS tools print it.
	pub fn to_text(&self) -> String {
		// Always parses: the bytes were validated on construction.
		cid::Cid::try_from(self.as_bytes()).map(|c| c.to_string()).unwrap_or_default()
	}
}

impl core::fmt::Debug for ContentId {
	fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
		write!(f, "ContentId({})", self.to_text())
	}
}

impl core::fmt::Display for ContentId {
	fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
		f.write_str(&self.to_text())
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	// `printf 'hello' | ipfs add --cid-version 1 --raw-leaves -n -Q` (well-known value).
	const HELLO_CID: &str = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq";

	#[test]
	fn computes_the_same_cid_as_ipfs() {
		let id = ContentId::of(b"hello");
		assert_eq!(id.to_text(), HELLO_CID);
		assert_eq!(ContentId::parse(HELLO_CID).unwrap(), id);
		assert_eq!(id.as_bytes().len(), 36);
		assert!(id.matches(b"hello"));
		assert!(!id.matches(b"hellO"));
	}

	#[test]
	fn binary_round_trip_is_exact() {
		let id = ContentId::of(b"some wasm");
		assert_eq!(ContentId::from_bytes(id.as_bytes()).unwrap(), id);
		let decoded = ContentId::decode(&mut &id.encode()[..]).unwrap();
		assert_eq!(decoded, id);
	}

	#[test]
	fn refuses_each_kind_of_wrong_cid_with_its_own_error() {
		let good = ContentId::of(b"x");
		let mut v0ish = good.as_bytes().to_vec();
		v0ish[0] = 0x00;
		assert_eq!(ContentId::from_bytes(&v0ish), Err(CidError::Malformed));

		let mut dag_pb = good.as_bytes().to_vec();
		dag_pb[1] = 0x70;
		assert_eq!(ContentId::from_bytes(&dag_pb), Err(CidError::UnsupportedCodec));

		let mut blake = good.as_bytes().to_vec();
		blake[2] = 0x1e; // blake3
		assert_eq!(ContentId::from_bytes(&blake), Err(CidError::UnsupportedHash));

		let mut short = good.as_bytes().to_vec();
		short[3] = 20;
		short.truncate(4 + 20);
		assert_eq!(ContentId::from_bytes(&short), Err(CidError::BadDigestLength));

		let mut trailing = good.as_bytes().to_vec();
		trailing.push(0);
		assert_eq!(ContentId::from_bytes(&trailing), Err(CidError::Malformed));

		assert_eq!(ContentId::from_bytes(&[0u8; 65]), Err(CidError::TooLong));
		assert_eq!(ContentId::from_bytes(&[]), Err(CidError::Malformed));
		// CIDv0 (base58 "Qm..." of a sha2-256 dag-pb multihash).
		assert_eq!(
			ContentId::parse("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"),
			Err(CidError::NotVersion1)
		);
		assert_eq!(ContentId::parse("not a cid"), Err(CidError::Malformed));
	}

	#[test]
	fn random_bytes_never_panic_and_accepted_ones_are_canonical() {
		let mut rng = crate::testing::XorShift::new(0x9e37_79b9_7f4a_7c15);
		let mut next = || rng.next();
		let good = ContentId::of(b"seed");
		for round in 0..20_000 {
			let len = (next() % 70) as usize;
			let mut bytes: alloc::vec::Vec<u8> = (0..len).map(|_| next() as u8).collect();
			if round % 2 == 0 && len >= 4 {
				// Mutate a valid CID instead: exercises the deeper branches.
				bytes = good.as_bytes().to_vec();
				let i = (next() as usize) % bytes.len();
				bytes[i] = next() as u8;
			}
			if let Ok(id) = ContentId::from_bytes(&bytes) {
				assert_eq!(id.as_bytes(), &bytes[..]);
			}
			let text = alloc::string::String::from_utf8_lossy(&bytes);
			let _ = ContentId::parse(&text);
		}
	}
}
