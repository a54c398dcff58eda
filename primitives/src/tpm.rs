//! TPM 2.0 quote verification (no_std): the runtime verifies workers' attestations with it, and
//! the worker checks its own quotes with the same code before it submits them.
//!
//! A quote is `TPMS_ATTEST` (the TPM's marshalled attestation structure) signed by the node's
//! attestation key (a restricted P-256 ECDSA key) as a `TPMT_SIGNATURE`. [`verify_quote`]
//! checks, in order: the ECDSA signature by the AK over SHA-256(`TPMS_ATTEST`) — first, so that
//! every later failure is about a structure the TPM signed ([`QuoteError::is_signed`]) and
//! bytes nobody's TPM signed are never held against a node — then the structure (magic
//! `TPM_GENERATED_VALUE`, type `TPM_ST_ATTEST_QUOTE`), that `extraData` is the expected nonce
//! (the chain's challenge, so no old quote can be replayed), that the quoted PCR selection is
//! exactly the submitted PCRs (SHA-256 bank), and that the PCR digest is the SHA-256 of the
//! submitted values. TPM signatures are not low-S normalised; the verifier accepts both.

use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use p256::ecdsa::{signature::Verifier, Signature, VerifyingKey};
use scale_info::TypeInfo;
use sha2::{Digest, Sha256};

/// `TPM_GENERATED_VALUE`: every TPM-made structure starts with it.
pub const TPM_GENERATED: u32 = 0xff54_4347;
/// `TPM_ST_ATTEST_QUOTE`.
pub const ST_ATTEST_QUOTE: u16 = 0x8018;
/// `TPM_ALG_SHA256`.
pub const ALG_SHA256: u16 = 0x000b;
/// `TPM_ALG_ECDSA`.
pub const ALG_ECDSA: u16 = 0x0018;
/// Highest PCR index of a PC-client TPM.
pub const MAX_PCR: u8 = 23;

/// Why a quote is refused. Those of a quote the node's attestation key signed
/// ([`QuoteError::is_signed`]) are evidence against the node; the others prove nothing about
/// its TPM.
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
pub enum QuoteError {
	/// The attestation structure ends early or has trailing bytes.
	Malformed,
	/// Not made by a TPM (magic is not `TPM_GENERATED_VALUE`).
	NotTpmGenerated,
	/// Not a quote (another attestation type).
	NotAQuote,
	/// `extraData` is not the expected challenge.
	NonceMismatch,
	/// The quoted PCR selection is not exactly the submitted PCRs in the SHA-256 bank.
	PcrSelectionMismatch,
	/// The quoted PCR digest is not the digest of the submitted PCR values.
	PcrDigestMismatch,
	/// The signature is not an ECDSA/SHA-256 `TPMT_SIGNATURE` with valid scalars.
	BadSignatureEncoding,
	/// The attestation key is not a valid P-256 point.
	BadAttestationKey,
	/// The signature does not verify with the attestation key.
	BadSignature,
	/// The TPM's reset count is lower than in the node's last accepted quote: its state was
	/// rolled back, or another TPM holds a copy of it.
	ResetCountWentBack,
	/// Same reset count, lower restart count than in the node's last accepted quote.
	RestartCountWentBack,
	/// The TPM's clock is not later than in the node's last accepted quote although no TPM
	/// reset since then can explain it (same reset count, or the TPM vouches with its `safe`
	/// flag that it never reported a later clock).
	ClockWentBack,
}

impl QuoteError {
	/// Whether the failure is about a quote the attestation key signed. A signature that does
	/// not verify (or cannot be parsed, or a key that is no key) proves nothing about the TPM:
	/// anyone can make such bytes, so the chain refuses them instead of holding them against
	/// the node.
	pub fn is_signed(&self) -> bool {
		!matches!(self, Self::BadSignature | Self::BadSignatureEncoding | Self::BadAttestationKey)
	}
}

/// Why a node attests. The purpose is part of the challenge, so a quote made for one purpose
/// never serves another.
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
pub enum Purpose {
	/// A candidate's first attestation; its admission committee is drawn when it verifies.
	Admission,
	/// An active or probationary node's periodic proof that it still runs an allowed runtime.
	Heartbeat,
	/// A quarantined node's fresh attestation within its appeal window.
	Appeal,
	/// Proof that an operator holds the attestation key of a node another account registered
	/// and never attested: the operator takes the registration over (`Nodes::claim`).
	Claim,
}

/// Domain separator of attestation challenges (v2: the operator is bound in).
pub const CHALLENGE_DOMAIN: &[u8] = b"tea/attestation/v2";

/// The challenge a node's quote must carry in `extraData`:
/// `SHA-256(CHALLENGE_DOMAIN ‖ anchor block hash ‖ node id ‖ len(operator) as u32 LE ‖
/// operator ‖ purpose)`, where `operator` is the SCALE encoding of the account that submits
/// the quote (the node's operator).
///
/// The anchor is a recent block the chain still remembers, so the worker cannot know the
/// challenge before that block exists, and the chain refuses anchors outside its window or not
/// newer than the node's last one: an old quote can never be replayed. The operator is bound in
/// so that a quote the node made for its own operator never serves another account: whoever
/// registers someone else's endorsement and attestation keys cannot complete the registration
/// with the real node's quotes.
pub fn challenge(
	anchor_hash: &[u8; 32],
	node: &[u8; 32],
	operator: &[u8],
	purpose: Purpose,
) -> [u8; 32] {
	let mut hasher = Sha256::new();
	hasher.update(CHALLENGE_DOMAIN);
	hasher.update(anchor_hash);
	hasher.update(node);
	hasher.update((operator.len() as u32).to_le_bytes());
	hasher.update(operator);
	hasher.update([purpose as u8]);
	hasher.finalize().into()
}

/// The SHA-256 of PCR values in index order: what a quote's PCR digest must be, and the
/// mini-runtime *measurement* governance allowlists.
pub fn pcr_digest(pcrs: &[(u8, [u8; 32])]) -> [u8; 32] {
	let mut hasher = Sha256::new();
	for (_, value) in pcrs {
		hasher.update(value);
	}
	hasher.finalize().into()
}

/// A TPM's clock and boot counters as a quote reports them (`TPMS_CLOCK_INFO`): the chain
/// keeps those of each node's last accepted quote, and the next quote must not go back from
/// them ([`check_freshness`]).
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Default,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub struct TpmClock {
	/// Milliseconds the TPM has been powered since it was last cleared.
	pub clock: u64,
	/// TPM Resets (power cycles) since it was last cleared.
	pub reset_count: u32,
	/// TPM Restarts and Resumes since its last Reset.
	pub restart_count: u32,
}

/// Checks that a TPM moved forward since the node's last accepted quote (`last`), the way
/// Keylime's verifier checks quote timing: the reset count never goes down; within one reset
/// cycle the restart count never goes down and the clock moves forward. Across a reset the
/// clock is not compared: after a power loss a TPM restarts from the clock it last saved,
/// which may be earlier than one it quoted. The `safe` flag does not settle it: a swtpm killed
/// and started again (a TPM reset) was seen quoting an earlier clock with `safe` set (the dev
/// network's SIGKILL test), so comparing across resets punished honest nodes.
///
/// A quote already proves its freshness to the chain by the challenge; these counters catch
/// what the challenge cannot: TPM state restored from a backup, or copied to a second TPM
/// (software TPMs), answering for the same attestation key.
pub fn check_freshness(last: &TpmClock, now: &TpmClock) -> Result<(), QuoteError> {
	if now.reset_count < last.reset_count {
		return Err(QuoteError::ResetCountWentBack);
	}
	let same_cycle = now.reset_count == last.reset_count;
	if same_cycle && now.restart_count < last.restart_count {
		return Err(QuoteError::RestartCountWentBack);
	}
	if same_cycle && now.clock <= last.clock {
		return Err(QuoteError::ClockWentBack);
	}
	Ok(())
}

/// What a verified quote says.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct QuoteInfo {
	/// The TPM's clock and counters.
	pub clock: TpmClock,
	/// `safe`: the TPM never reported a clock later than this one.
	pub safe: bool,
	/// TPM firmware version.
	pub firmware_version: u64,
	/// The PCR digest (SHA-256 of the selected PCR values in index order).
	pub pcr_digest: [u8; 32],
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
	fn take(&mut self, n: usize) -> Result<&'a [u8], QuoteError> {
		if self.0.len() < n {
			return Err(QuoteError::Malformed);
		}
		let (head, rest) = self.0.split_at(n);
		self.0 = rest;
		Ok(head)
	}
	fn u8(&mut self) -> Result<u8, QuoteError> {
		Ok(self.take(1)?[0])
	}
	fn u16(&mut self) -> Result<u16, QuoteError> {
		Ok(u16::from_be_bytes(self.take(2)?.try_into().map_err(|_| QuoteError::Malformed)?))
	}
	fn u32(&mut self) -> Result<u32, QuoteError> {
		Ok(u32::from_be_bytes(self.take(4)?.try_into().map_err(|_| QuoteError::Malformed)?))
	}
	fn u64(&mut self) -> Result<u64, QuoteError> {
		Ok(u64::from_be_bytes(self.take(8)?.try_into().map_err(|_| QuoteError::Malformed)?))
	}
	/// A `TPM2B_*`: u16 size, then the bytes.
	fn sized(&mut self) -> Result<&'a [u8], QuoteError> {
		let n = self.u16()? as usize;
		self.take(n)
	}
}

/// The `TPMS_PCR_SELECTION` bitmap of PCR `indices`.
fn selection_bitmap(indices: impl Iterator<Item = u8>) -> [u8; 3] {
	let mut bitmap = [0u8; 3];
	for i in indices {
		bitmap[(i / 8) as usize] |= 1 << (i % 8);
	}
	bitmap
}

/// Whether `sec1` is a valid P-256 public key (SEC1, compressed or uncompressed, on the
/// curve): what an attestation key must be before a node can register it.
pub fn valid_attestation_key(sec1: &[u8]) -> bool {
	VerifyingKey::from_sec1_bytes(sec1).is_ok()
}

/// The well-known development attestation key number `k` (`k·G` on P-256, uncompressed SEC1):
/// the dev and local presets' genesis nodes use keys 1, 2, 3, like Alice's well-known account;
/// `soft_tpm::SoftTpm::new(k)` signs for it. Never use one on a real network.
pub fn dev_attestation_key(k: u64) -> [u8; 65] {
	use p256::elliptic_curve::sec1::ToEncodedPoint;
	let point = (p256::ProjectivePoint::GENERATOR * p256::Scalar::from(k)).to_affine();
	let mut key = [0u8; 65];
	key.copy_from_slice(point.to_encoded_point(false).as_bytes());
	key
}

/// The libp2p peer ids (multihash bytes) of the dev and local presets' genesis nodes
/// (Alice's, Bob's, Charlie's): ed25519 keys whose secret is
/// `SHA-256("tea/dev/p2p/<Name>")`, which `tea-worker --p2p-key dev:<Name>` derives. A
/// candidate answers only committee members' registered peer ids, so the genesis nodes need
/// real ones. Never use one on a real network.
pub const DEV_PEER_IDS: [[u8; 38]; 3] = [
	[
		0x00, 0x24, 0x08, 0x01, 0x12, 0x20, 0x5c, 0x69, 0x9f, 0xff, 0x1d, 0xad, 0x41, 0x8c, 0x3d,
		0x4a, 0x7c, 0x0b, 0xc7, 0xe4, 0xae, 0x85, 0xce, 0xd3, 0x65, 0xb3, 0xc2, 0xc4, 0x63, 0xb6,
		0x47, 0xb0, 0x58, 0x59, 0xcb, 0x9d, 0x04, 0x86,
	],
	[
		0x00, 0x24, 0x08, 0x01, 0x12, 0x20, 0x3a, 0x01, 0xa9, 0x35, 0x28, 0x53, 0x07, 0xd2, 0x9c,
		0x91, 0xc0, 0xe1, 0x22, 0x63, 0x4b, 0xf4, 0x7d, 0x0a, 0xf3, 0xdb, 0xa7, 0x2e, 0x52, 0xb5,
		0xb5, 0x4e, 0x3b, 0x60, 0xf5, 0xfd, 0xf1, 0xa9,
	],
	[
		0x00, 0x24, 0x08, 0x01, 0x12, 0x20, 0x06, 0xc8, 0x2a, 0xe4, 0x0d, 0x9b, 0x2b, 0x55, 0x93,
		0x7b, 0xcd, 0xc0, 0xaa, 0xf5, 0x59, 0xba, 0x6b, 0xeb, 0xa1, 0xb8, 0x97, 0x01, 0x7f, 0x3c,
		0x31, 0xde, 0xf0, 0xf4, 0x1c, 0xa7, 0x89, 0xf3,
	],
];

/// Verifies a quote.
///
/// - `ak_sec1`: the node's registered attestation key, a SEC1 P-256 point.
/// - `attest`: the `TPMS_ATTEST` bytes.
/// - `signature`: the `TPMT_SIGNATURE` bytes.
/// - `nonce`: the challenge the chain expects in `extraData`.
/// - `pcrs`: the quoted PCRs as `(index, SHA-256 bank value)`, strictly ascending indices.
pub fn verify_quote(
	ak_sec1: &[u8],
	attest: &[u8],
	signature: &[u8],
	nonce: &[u8],
	pcrs: &[(u8, [u8; 32])],
) -> Result<QuoteInfo, QuoteError> {
	// The signature first: what follows is only ever about bytes the TPM signed.
	let key = VerifyingKey::from_sec1_bytes(ak_sec1).map_err(|_| QuoteError::BadAttestationKey)?;
	let signature = parse_signature(signature)?;
	key.verify(attest, &signature).map_err(|_| QuoteError::BadSignature)?;

	let mut r = Reader(attest);
	if r.u32()? != TPM_GENERATED {
		return Err(QuoteError::NotTpmGenerated);
	}
	if r.u16()? != ST_ATTEST_QUOTE {
		return Err(QuoteError::NotAQuote);
	}
	let _qualified_signer = r.sized()?;
	if r.sized()? != nonce {
		return Err(QuoteError::NonceMismatch);
	}
	let clock = TpmClock { clock: r.u64()?, reset_count: r.u32()?, restart_count: r.u32()? };
	let safe = r.u8()? != 0;
	let firmware_version = r.u64()?;
	// TPMS_QUOTE_INFO: TPML_PCR_SELECTION, then TPM2B_DIGEST.
	let banks = r.u32()?;
	let ascending = pcrs.windows(2).all(|w| w[0].0 < w[1].0);
	if banks != 1 || !ascending || pcrs.iter().any(|(i, _)| *i > MAX_PCR) {
		return Err(QuoteError::PcrSelectionMismatch);
	}
	let bank = r.u16()?;
	let size = r.u8()? as usize;
	let bitmap = r.take(size)?;
	let expected = selection_bitmap(pcrs.iter().map(|(i, _)| *i));
	let padded = bitmap.iter().copied().chain(core::iter::repeat(0)).take(3).collect::<Vec<_>>();
	if bank != ALG_SHA256 || size < 3 || bitmap[3..].iter().any(|b| *b != 0) || padded != expected {
		return Err(QuoteError::PcrSelectionMismatch);
	}
	let digest = r.sized()?;
	if !r.0.is_empty() {
		return Err(QuoteError::Malformed);
	}
	let pcr_digest = pcr_digest(pcrs);
	if digest != pcr_digest {
		return Err(QuoteError::PcrDigestMismatch);
	}
	Ok(QuoteInfo { clock, safe, firmware_version, pcr_digest })
}

/// Parses an ECDSA/SHA-256 `TPMT_SIGNATURE`: alg, hash, then `r` and `s` as `TPM2B`s.
fn parse_signature(bytes: &[u8]) -> Result<Signature, QuoteError> {
	let mut r = Reader(bytes);
	let bad = |_| QuoteError::BadSignatureEncoding;
	if r.u16().map_err(bad)? != ALG_ECDSA || r.u16().map_err(bad)? != ALG_SHA256 {
		return Err(QuoteError::BadSignatureEncoding);
	}
	let (sig_r, sig_s) = (r.sized().map_err(bad)?, r.sized().map_err(bad)?);
	if !r.0.is_empty() || sig_r.len() > 32 || sig_s.len() > 32 {
		return Err(QuoteError::BadSignatureEncoding);
	}
	let pad = |v: &[u8]| {
		let mut out = [0u8; 32];
		out[32 - v.len()..].copy_from_slice(v);
		out
	};
	Signature::from_scalars(pad(sig_r), pad(sig_s)).map_err(|_| QuoteError::BadSignatureEncoding)
}

#[cfg(test)]
mod tests {
	use super::*;

	struct Vector {
		ak: Vec<u8>,
		nonce: Vec<u8>,
		attest: Vec<u8>,
		signature: Vec<u8>,
		pcrs: Vec<(u8, [u8; 32])>,
	}

	fn hex(s: &str) -> Vec<u8> {
		(0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
	}

	/// Reads a committed vector (a tiny JSON reader: the files are written by our script).
	fn vector(name: &str) -> Vector {
		let path = format!("{}/test-vectors/tpm-quote-{name}.json", env!("CARGO_MANIFEST_DIR"));
		let text = std::fs::read_to_string(path).unwrap();
		let field = |key: &str| {
			let start = text.find(&format!("\"{key}\": \"")).unwrap() + key.len() + 5;
			let end = start + text[start..].find('"').unwrap();
			hex(&text[start..end])
		};
		let pcrs_start = text.find("\"pcrs\"").unwrap();
		let pcrs = text[pcrs_start..]
			.split('[')
			.skip(2)
			.map(|entry| {
				let (index, rest) = entry.split_once(',').unwrap();
				let value = rest.split('"').nth(1).unwrap();
				(index.trim().parse().unwrap(), hex(value).try_into().unwrap())
			})
			.collect();
		Vector {
			ak: field("akSec1"),
			nonce: field("nonce"),
			attest: field("attest"),
			signature: field("signature"),
			pcrs,
		}
	}

	fn verify(v: &Vector) -> Result<QuoteInfo, QuoteError> {
		verify_quote(&v.ak, &v.attest, &v.signature, &v.nonce, &v.pcrs)
	}

	#[test]
	fn swtpm_quotes_verify() {
		for name in ["a", "b"] {
			let v = vector(name);
			let info = verify(&v).unwrap();
			assert_eq!(v.pcrs.iter().map(|p| p.0).collect::<Vec<_>>(), [16]);
			assert_ne!(v.pcrs[0].1, [0u8; 32], "the worker measured itself into PCR 16");
			assert_eq!(info.pcr_digest, pcr_digest(&v.pcrs));
			assert!(info.clock.clock > 0);
			assert!(info.safe, "a fresh swtpm vouches for its clock");
		}
	}

	#[test]
	fn every_tampering_is_caught_with_its_reason() {
		let v = vector("a");
		let other = vector("b");
		let with = |f: &dyn Fn(&mut Vector)| {
			let mut t = vector("a");
			f(&mut t);
			verify(&t)
		};
		assert_eq!(with(&|t| t.nonce[0] ^= 1), Err(QuoteError::NonceMismatch));
		assert_eq!(with(&|t| t.pcrs[0].1[5] ^= 1), Err(QuoteError::PcrDigestMismatch));
		assert_eq!(with(&|t| t.pcrs.clear()), Err(QuoteError::PcrSelectionMismatch));
		assert_eq!(with(&|t| t.pcrs[0].0 = 15), Err(QuoteError::PcrSelectionMismatch));
		assert_eq!(with(&|t| t.pcrs[0].0 = 24), Err(QuoteError::PcrSelectionMismatch));
		assert_eq!(with(&|t| t.pcrs.push((23, [0; 32]))), Err(QuoteError::PcrSelectionMismatch));
		assert_eq!(
			with(&|t| t.pcrs.insert(0, (10, [0; 32]))),
			Err(QuoteError::PcrSelectionMismatch)
		);
		// Another TPM's key, or another measurement's PCR values.
		assert_eq!(with(&|t| t.ak = other.ak.clone()), Err(QuoteError::BadSignature));
		assert_eq!(with(&|t| t.pcrs = other.pcrs.clone()), Err(QuoteError::PcrDigestMismatch));
		assert_eq!(with(&|t| t.ak = vec![4; 65]), Err(QuoteError::BadAttestationKey));
		// Flipped bytes in the signed structure: the clock (covered by the signature only), the
		// magic, the type. Changed bytes no longer carry the AK's signature: checked first.
		// From the end: digest (34), PCR selection (10), firmware (8), clock info (17).
		let clock_at = v.attest.len() - 34 - 10 - 8 - 17;
		assert_eq!(with(&|t| t.attest[clock_at] ^= 1), Err(QuoteError::BadSignature));
		assert_eq!(with(&|t| t.attest[0] ^= 1), Err(QuoteError::BadSignature));
		assert_eq!(with(&|t| t.attest.push(0)), Err(QuoteError::BadSignature));
		// The same changes signed by the key (a TPM cannot make them; the test signer can):
		// each caught by its own check.
		let signer = crate::testing::SoftTpm::new(5);
		let signed = |f: &dyn Fn(&mut Vec<u8>)| {
			let (mut attest, _) = signer.quote(&v.nonce, &v.pcrs);
			f(&mut attest);
			let signature = signer.sign(&attest);
			verify_quote(&signer.ak(), &attest, &signature, &v.nonce, &v.pcrs)
		};
		assert!(signed(&|_| {}).is_ok());
		assert_eq!(signed(&|a| a[0] ^= 1), Err(QuoteError::NotTpmGenerated));
		assert_eq!(signed(&|a| a[5] ^= 1), Err(QuoteError::NotAQuote));
		assert_eq!(signed(&|a| a.push(0)), Err(QuoteError::Malformed));
		assert_eq!(signed(&|a| a.truncate(40)), Err(QuoteError::Malformed));
		for error in [QuoteError::NotTpmGenerated, QuoteError::Malformed, QuoteError::NonceMismatch]
		{
			assert!(error.is_signed());
		}
		for error in [QuoteError::BadSignature, QuoteError::BadSignatureEncoding] {
			assert!(!error.is_signed(), "{error:?} proves nothing about the TPM");
		}
		// The signature.
		assert_eq!(with(&|t| t.signature[10] ^= 1), Err(QuoteError::BadSignature));
		assert_eq!(with(&|t| t.signature[0] ^= 1), Err(QuoteError::BadSignatureEncoding));
		assert_eq!(
			with(&|t| t.signature.pop().map(drop).unwrap()),
			Err(QuoteError::BadSignatureEncoding)
		);
		assert_eq!(with(&|t| t.signature = other.signature.clone()), Err(QuoteError::BadSignature));
	}

	#[test]
	fn the_test_signer_makes_quotes_laid_out_like_swtpm() {
		let v = vector("a");
		let tpm = crate::testing::SoftTpm::new(5);
		let (attest, signature) = tpm.quote(&v.nonce, &v.pcrs);
		assert_eq!(attest.len(), v.attest.len());
		assert_eq!(attest[..6], v.attest[..6], "magic and type");
		assert_eq!(signature[..4], v.signature[..4], "ECDSA, SHA-256");
		let info = verify_quote(&tpm.ak(), &attest, &signature, &v.nonce, &v.pcrs).unwrap();
		assert_eq!(info.pcr_digest, pcr_digest(&v.pcrs));
		assert_eq!(
			verify_quote(&v.ak, &attest, &signature, &v.nonce, &v.pcrs),
			Err(QuoteError::BadSignature)
		);
	}

	#[test]
	fn a_tpm_must_move_forward_from_its_last_accepted_quote() {
		let last = TpmClock { clock: 5_000, reset_count: 3, restart_count: 2 };
		let at = |clock, reset_count, restart_count| TpmClock { clock, reset_count, restart_count };
		// Later in the same cycle, after a restart, after a reset.
		assert_eq!(check_freshness(&last, &at(5_001, 3, 2)), Ok(()));
		assert_eq!(check_freshness(&last, &at(9_000, 3, 3)), Ok(()));
		assert_eq!(check_freshness(&last, &at(9_000, 4, 0)), Ok(()));
		// Rolled back: the reset count, the restart count, the clock within a cycle.
		assert_eq!(check_freshness(&last, &at(9_000, 2, 9)), Err(QuoteError::ResetCountWentBack));
		assert_eq!(check_freshness(&last, &at(9_000, 3, 1)), Err(QuoteError::RestartCountWentBack));
		assert_eq!(check_freshness(&last, &at(5_000, 3, 2)), Err(QuoteError::ClockWentBack));
		assert_eq!(check_freshness(&last, &at(4_000, 3, 3)), Err(QuoteError::ClockWentBack));
		// After a reset the clock may restart earlier (from the last clock the TPM saved).
		assert_eq!(check_freshness(&last, &at(4_000, 4, 0)), Ok(()));
	}

	#[test]
	fn quotes_report_the_tpm_clock_and_counters() {
		let v = vector("a");
		let tpm = crate::testing::SoftTpm::new(5);
		tpm.set_clock(TpmClock { clock: 77_000, reset_count: 9, restart_count: 4 }, false);
		let (attest, signature) = tpm.quote(&v.nonce, &v.pcrs);
		let info = verify_quote(&tpm.ak(), &attest, &signature, &v.nonce, &v.pcrs).unwrap();
		assert_eq!(info.clock, TpmClock { clock: 77_001, reset_count: 9, restart_count: 4 });
		assert!(!info.safe);
	}

	#[test]
	fn challenges_bind_the_block_the_node_the_operator_and_the_purpose() {
		let at = |anchor: u8, node: u8, operator: &[u8], purpose| {
			challenge(&[anchor; 32], &[node; 32], operator, purpose)
		};
		let base = at(1, 2, &[3; 32], Purpose::Heartbeat);
		assert_ne!(base, at(9, 2, &[3; 32], Purpose::Heartbeat));
		assert_ne!(base, at(1, 9, &[3; 32], Purpose::Heartbeat));
		assert_ne!(base, at(1, 2, &[4; 32], Purpose::Heartbeat));
		assert_ne!(base, at(1, 2, &[3; 32], Purpose::Appeal));
		assert_ne!(base, at(1, 2, &[3; 32], Purpose::Claim));
		assert_eq!(base, at(1, 2, &[3; 32], Purpose::Heartbeat));
	}

	#[test]
	fn random_bytes_never_panic() {
		let v = vector("a");
		let mut rng = crate::testing::XorShift::new(7);
		for round in 0..5000 {
			let mut attest = v.attest.clone();
			let mut signature = v.signature.clone();
			for _ in 0..1 + rng.next() % 3 {
				let at = rng.next() as usize % attest.len();
				attest[at] = rng.next() as u8;
				let at = rng.next() as usize % signature.len();
				signature[at] = rng.next() as u8;
			}
			if round % 3 == 0 {
				attest.truncate(rng.next() as usize % (attest.len() + 1));
			}
			assert!(verify_quote(&v.ak, &attest, &signature, &v.nonce, &v.pcrs).is_err());
		}
	}
}
