//! A software quote signer (std, or the `soft-tpm` feature for runtime benchmarks, which must
//! sign fresh quotes over the chain's challenge inside the runtime).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

/// Quotes made by signers whose clock was not set: a TPM clock that only moves forward, like
/// one TPM's, whichever test signer quotes.
static QUOTES: AtomicU32 = AtomicU32::new(1);

/// A software quote signer for unit tests of the chain's attestation logic: it lays out
/// `TPMS_ATTEST` and `TPMT_SIGNATURE` exactly as swtpm does (a test in `tpm` compares them with
/// the committed swtpm vectors) and signs with the P-256 key `k`. Real quotes come from the
/// worker's TPM.
pub struct SoftTpm {
	key: p256::ecdsa::SigningKey,
	/// TPM clock and counters once [`SoftTpm::set_clock`] set them (the clock then increases
	/// by 1 ms with every quote); until then every quote by any signer in this process reports
	/// a later clock than the one before, reset count 1, restart count 0.
	clock: core::cell::Cell<Option<crate::tpm::TpmClock>>,
	/// The `safe` flag it reports.
	safe: core::cell::Cell<bool>,
}

impl SoftTpm {
	/// The signer with secret scalar `k` (non-zero).
	pub fn new(k: u64) -> Self {
		let mut secret = [0u8; 32];
		secret[24..].copy_from_slice(&k.max(1).to_be_bytes());
		let key = p256::ecdsa::SigningKey::from_bytes(&secret.into()).expect("non-zero scalar");
		Self { key, clock: core::cell::Cell::new(None), safe: core::cell::Cell::new(true) }
	}

	/// Sets its clock and counters (the next quote reports `clock.clock + 1`) and its `safe`
	/// flag: a TPM after a reset, or one whose state was rolled back.
	pub fn set_clock(&self, clock: crate::tpm::TpmClock, safe: bool) {
		self.clock.set(Some(clock));
		self.safe.set(safe);
	}

	/// Its attestation key (uncompressed SEC1).
	pub fn ak(&self) -> [u8; 65] {
		let point = self.key.verifying_key().to_encoded_point(false);
		point.as_bytes().try_into().expect("65 bytes uncompressed")
	}

	/// A quote over `pcrs` (ascending indices) with `nonce` as `extraData`:
	/// `(TPMS_ATTEST, TPMT_SIGNATURE)`.
	pub fn quote(&self, nonce: &[u8], pcrs: &[(u8, [u8; 32])]) -> (Vec<u8>, Vec<u8>) {
		let clock = match self.clock.get() {
			Some(mut clock) => {
				clock.clock += 1;
				self.clock.set(Some(clock));
				clock
			}
			None => crate::tpm::TpmClock {
				clock: 1000 + u64::from(QUOTES.fetch_add(1, Ordering::Relaxed)),
				reset_count: 1,
				restart_count: 0,
			},
		};
		let mut attest = Vec::new();
		attest.extend(crate::tpm::TPM_GENERATED.to_be_bytes());
		attest.extend(crate::tpm::ST_ATTEST_QUOTE.to_be_bytes());
		// qualifiedSigner: the AK's name (nameAlg SHA-256 + digest).
		attest.extend(34u16.to_be_bytes());
		attest.extend(crate::tpm::ALG_SHA256.to_be_bytes());
		attest.extend(crate::tpm::pcr_digest(&[(0, self.ak()[1..33].try_into().unwrap())]));
		attest.extend((nonce.len() as u16).to_be_bytes());
		attest.extend(nonce);
		attest.extend(clock.clock.to_be_bytes());
		attest.extend(clock.reset_count.to_be_bytes());
		attest.extend(clock.restart_count.to_be_bytes());
		attest.push(self.safe.get() as u8);
		attest.extend(0x2019_1023_0016_3636u64.to_be_bytes()); // firmwareVersion
		attest.extend(1u32.to_be_bytes()); // one PCR bank
		attest.extend(crate::tpm::ALG_SHA256.to_be_bytes());
		attest.push(3);
		let mut bitmap = [0u8; 3];
		for (i, _) in pcrs {
			bitmap[(*i / 8) as usize] |= 1 << (*i % 8);
		}
		attest.extend(bitmap);
		attest.extend(32u16.to_be_bytes());
		attest.extend(crate::tpm::pcr_digest(pcrs));
		let signature = self.sign(&attest);
		(attest, signature)
	}

	/// Its `TPMT_SIGNATURE` (ECDSA P-256, SHA-256) over any bytes, for tests of what a verifier
	/// does with signed bytes that are no quote.
	pub fn sign(&self, attest: &[u8]) -> Vec<u8> {
		use p256::ecdsa::{signature::Signer, Signature};
		let signature: Signature = self.key.sign(attest);
		let (r, s) = signature.split_bytes();
		let mut sig = Vec::new();
		sig.extend(crate::tpm::ALG_ECDSA.to_be_bytes());
		sig.extend(crate::tpm::ALG_SHA256.to_be_bytes());
		for scalar in [r, s] {
			sig.extend(32u16.to_be_bytes());
			sig.extend(scalar.as_slice());
		}
		sig
	}
}
