//! A software quote signer (std, or the `soft-tpm` feature for runtime benchmarks, which must
//! sign fresh quotes over the chain's challenge inside the runtime).

use alloc::vec::Vec;

/// A software quote signer for unit tests of the chain's attestation logic: it lays out
/// `TPMS_ATTEST` and `TPMT_SIGNATURE` exactly as swtpm does (a test in `tpm` compares them with
/// the committed swtpm vectors) and signs with the P-256 key `k`. Real quotes come from the
/// worker's TPM.
pub struct SoftTpm {
	key: p256::ecdsa::SigningKey,
	/// TPM clock in milliseconds, increased with every quote.
	clock: core::cell::Cell<u64>,
}

impl SoftTpm {
	/// The signer with secret scalar `k` (non-zero).
	pub fn new(k: u64) -> Self {
		let mut secret = [0u8; 32];
		secret[24..].copy_from_slice(&k.max(1).to_be_bytes());
		let key = p256::ecdsa::SigningKey::from_bytes(&secret.into()).expect("non-zero scalar");
		Self { key, clock: core::cell::Cell::new(1000) }
	}

	/// Its attestation key (uncompressed SEC1).
	pub fn ak(&self) -> [u8; 65] {
		let point = self.key.verifying_key().to_encoded_point(false);
		point.as_bytes().try_into().expect("65 bytes uncompressed")
	}

	/// A quote over `pcrs` (ascending indices) with `nonce` as `extraData`:
	/// `(TPMS_ATTEST, TPMT_SIGNATURE)`.
	pub fn quote(&self, nonce: &[u8], pcrs: &[(u8, [u8; 32])]) -> (Vec<u8>, Vec<u8>) {
		use p256::ecdsa::{signature::Signer, Signature};
		let clock = self.clock.get() + 1;
		self.clock.set(clock);
		let mut attest = Vec::new();
		attest.extend(crate::tpm::TPM_GENERATED.to_be_bytes());
		attest.extend(crate::tpm::ST_ATTEST_QUOTE.to_be_bytes());
		// qualifiedSigner: the AK's name (nameAlg SHA-256 + digest).
		attest.extend(34u16.to_be_bytes());
		attest.extend(crate::tpm::ALG_SHA256.to_be_bytes());
		attest.extend(crate::tpm::pcr_digest(&[(0, self.ak()[1..33].try_into().unwrap())]));
		attest.extend((nonce.len() as u16).to_be_bytes());
		attest.extend(nonce);
		attest.extend(clock.to_be_bytes());
		attest.extend(1u32.to_be_bytes()); // resetCount
		attest.extend(0u32.to_be_bytes()); // restartCount
		attest.push(1); // safe
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
		let signature: Signature = self.key.sign(&attest);
		let (r, s) = signature.split_bytes();
		let mut sig = Vec::new();
		sig.extend(crate::tpm::ALG_ECDSA.to_be_bytes());
		sig.extend(crate::tpm::ALG_SHA256.to_be_bytes());
		for scalar in [r, s] {
			sig.extend(32u16.to_be_bytes());
			sig.extend(scalar.as_slice());
		}
		(attest, sig)
	}
}
