//! The TPM subsystem against a real software TPM: each test starts its own swtpm on a free
//! loopback port with its own state directory (installed by `scripts/setup.sh`).

mod swtpm;

use swtpm::{free_port, swtpm};
use tea_primitives::{
	evidence::{dev_boot_value, dev_policy, DEV_BOOT_PCRS},
	tpm::{challenge, pcr_digest, verify_quote, Purpose, QuoteError},
};
use tea_worker::tpm::{dev_boot, Tpm, TpmError};

/// The PCRs the development policy quotes.
fn selection() -> Vec<u8> {
	dev_policy().selection().collect()
}

#[test]
fn identity_is_stable_and_opening_the_tpm_extends_nothing() {
	let tpm = swtpm();
	let mut first = Tpm::open(&tpm.tcti).unwrap();
	let id = first.identity().clone();
	assert_eq!(id.ek_public.len(), 294, "DER SPKI of an RSA 2048 key");
	assert!(id.ek_certificate.is_empty(), "a bare swtpm has no EK certificate");
	assert_eq!(id.node_id, pallet_tea_nodes::node_id(&id.ek_public).0);
	assert!(tea_primitives::tpm::valid_attestation_key(&id.attestation_key));
	// The managed swtpm booted the development way; nothing else was extended (the review
	// finding: the worker extended PCR 16, which anyone can reset, with its own hash).
	let pcrs = first.read_pcrs(&selection()).unwrap();
	let booted: Vec<_> = DEV_BOOT_PCRS.map(|pcr| (pcr, dev_boot_value(pcr))).collect();
	assert_eq!(pcrs[..8], booted[..]);
	assert_eq!(pcrs[8], (13, [0; 32]), "the log PCR is untouched");
	assert_eq!(first.read_pcrs(&[16]).unwrap(), vec![(16, [0; 32])]);
	drop(first);
	// Reopened: the same keys (the AK is persistent), and still no extend.
	let mut again = Tpm::open(&tpm.tcti).unwrap();
	assert_eq!(again.identity(), &id);
	assert_eq!(again.read_pcrs(&selection()).unwrap(), pcrs);
	// Another TPM: another identity.
	let other = swtpm();
	let other = Tpm::open(&other.tcti).unwrap();
	assert_ne!(other.identity().node_id, id.node_id);
	assert_ne!(other.identity().attestation_key, id.attestation_key);
}

#[test]
fn quotes_verify_with_the_runtime_verifier_and_only_for_their_challenge() {
	let tpm = swtpm();
	let mut tpm = Tpm::open(&tpm.tcti).unwrap();
	let id = tpm.identity().clone();
	let nonce = challenge(&[7; 32], &id.node_id, &[9; 32], Purpose::Heartbeat);
	let q = tpm.quote_pcrs(&nonce, &selection()).unwrap();
	assert_eq!(q.pcrs.len(), 9, "more than the 8 digests one PCR read returns");
	assert_eq!(q.measurement, pcr_digest(&q.pcrs));
	let ok = verify_quote(&id.attestation_key, &q.attest, &q.signature, &nonce, &q.pcrs);
	assert_eq!(ok.unwrap().pcr_digest, q.measurement);
	// Another purpose, another operator, a tampered PCR, another node's key.
	let appeal = challenge(&[7; 32], &id.node_id, &[9; 32], Purpose::Appeal);
	let other_operator = challenge(&[7; 32], &id.node_id, &[8; 32], Purpose::Heartbeat);
	let check = |nonce: &[u8], pcrs: &[(u8, [u8; 32])], ak: &[u8]| {
		verify_quote(ak, &q.attest, &q.signature, nonce, pcrs)
	};
	assert_eq!(check(&appeal, &q.pcrs, &id.attestation_key), Err(QuoteError::NonceMismatch));
	assert_eq!(
		check(&other_operator, &q.pcrs, &id.attestation_key),
		Err(QuoteError::NonceMismatch)
	);
	let mut tampered = q.pcrs.clone();
	tampered[0].1[0] ^= 1;
	assert_eq!(check(&nonce, &tampered, &id.attestation_key), Err(QuoteError::PcrDigestMismatch));
	let dev_key = tea_primitives::tpm::dev_attestation_key(1);
	assert_eq!(check(&nonce, &q.pcrs, &dev_key), Err(QuoteError::BadSignature));
	// Two quotes over the same nonce differ (the TPM clock), both verify.
	let q2 = tpm.quote_pcrs(&nonce, &selection()).unwrap();
	assert_ne!(q2.attest, q.attest);
}

#[test]
fn bad_addresses_and_nonces_are_clear_errors() {
	assert!(matches!(
		Tpm::open("nonsense:"),
		Err(TpmError::BadTcti(_)) | Err(TpmError::Tss { .. })
	));
	let port = free_port();
	let err = Tpm::open(&format!("swtpm:host=127.0.0.1,port={port}")).err().unwrap();
	assert!(err.to_string().contains("connecting"), "{err}");
	let tpm = swtpm();
	let mut tpm = Tpm::open(&tpm.tcti).unwrap();
	assert!(matches!(tpm.quote_pcrs(&[0; 65], &[13]), Err(TpmError::Nonce(65))));
	assert!(matches!(tpm.quote_pcrs(&[0; 32], &[24]), Err(TpmError::NoSuchPcr(24))));
	assert!(matches!(tpm.extend(40, [0; 32]), Err(TpmError::NoSuchPcr(40))));
}

#[test]
fn the_development_boot_happens_once_and_refuses_a_tpm_that_booted_otherwise() {
	let swtpm = swtpm();
	let mut tpm = Tpm::open(&swtpm.tcti).unwrap();
	let before = tpm.read_pcrs(&selection()).unwrap();
	drop(tpm);
	// Booted already (the managed swtpm did it): nothing changes.
	dev_boot(&swtpm.tcti).unwrap();
	let mut tpm = Tpm::open(&swtpm.tcti).unwrap();
	assert_eq!(tpm.read_pcrs(&selection()).unwrap(), before);
	// Something else measured into PCR 4: not a development boot.
	tpm.extend(4, [9; 32]).unwrap();
	drop(tpm);
	assert!(matches!(dev_boot(&swtpm.tcti), Err(TpmError::NotDevBoot(4))));
}
