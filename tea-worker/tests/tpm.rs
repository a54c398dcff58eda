//! The TPM subsystem against a real software TPM: each test starts its own swtpm on a free
//! loopback port with its own state directory (installed by `scripts/setup.sh`).

mod swtpm;

use swtpm::{free_port, swtpm};
use tea_primitives::tpm::{challenge, pcr_digest, verify_quote, Purpose, QuoteError};
use tea_worker::tpm::{expected_measurement, Tpm, TpmError};

#[test]
fn identity_is_stable_and_the_worker_measures_itself_once() {
	let tpm = swtpm();
	let mut first = Tpm::open(&tpm.tcti).unwrap();
	let id = first.identity().clone();
	assert_eq!(id.ek_public.len(), 294, "DER SPKI of an RSA 2048 key");
	assert!(id.ek_certificate.is_empty(), "a bare swtpm has no EK certificate");
	assert_eq!(id.node_id, pallet_tea_nodes::node_id(&id.ek_public).0);
	assert!(tea_primitives::tpm::valid_attestation_key(&id.attestation_key));
	let pcrs = first.read_pcrs(&[16]).unwrap();
	assert_eq!(pcr_digest(&pcrs), expected_measurement().unwrap(), "PCR 16 holds this binary");
	drop(first);
	// Reopened: the same keys (the AK is persistent), and no second extend.
	let mut again = Tpm::open(&tpm.tcti).unwrap();
	assert_eq!(again.identity(), &id);
	assert_eq!(again.read_pcrs(&[16]).unwrap(), pcrs);
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
	let nonce = challenge(&[7; 32], &id.node_id, Purpose::Heartbeat);
	let q = tpm.quote(&nonce).unwrap();
	assert_eq!(q.measurement, expected_measurement().unwrap());
	let ok = verify_quote(&id.attestation_key, &q.attest, &q.signature, &nonce, &q.pcrs);
	assert_eq!(ok.unwrap().pcr_digest, q.measurement);
	// Another purpose, a tampered PCR, another node's key.
	let appeal = challenge(&[7; 32], &id.node_id, Purpose::Appeal);
	let check = |nonce: &[u8], pcrs: &[(u8, [u8; 32])], ak: &[u8]| {
		verify_quote(ak, &q.attest, &q.signature, nonce, pcrs)
	};
	assert_eq!(check(&appeal, &q.pcrs, &id.attestation_key), Err(QuoteError::NonceMismatch));
	let mut tampered = q.pcrs.clone();
	tampered[0].1[0] ^= 1;
	assert_eq!(check(&nonce, &tampered, &id.attestation_key), Err(QuoteError::PcrDigestMismatch));
	let dev_key = tea_primitives::tpm::dev_attestation_key(1);
	assert_eq!(check(&nonce, &q.pcrs, &dev_key), Err(QuoteError::BadSignature));
	// Two quotes over the same nonce differ (the TPM clock), both verify.
	let q2 = tpm.quote(&nonce).unwrap();
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
	assert!(matches!(tpm.quote(&[0; 65]), Err(TpmError::Nonce(65))));
}
