//! The TPM subsystem against a real software TPM: each test starts its own swtpm on a free
//! loopback port with its own state directory (installed by `scripts/setup.sh`).

use std::{
	net::{TcpListener, TcpStream},
	process::{Child, Command, Stdio},
	time::{Duration, Instant},
};
use tea_primitives::tpm::{challenge, pcr_digest, verify_quote, Purpose, QuoteError};
use tea_worker::tpm::{expected_measurement, Tpm, TpmError};

/// A running swtpm, killed on drop.
struct Swtpm {
	child: Child,
	tcti: String,
	_state: tempfile::TempDir,
}

impl Drop for Swtpm {
	fn drop(&mut self) {
		let _ = self.child.kill();
		let _ = self.child.wait();
	}
}

fn free_port() -> u16 {
	TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A free port whose successor is free too: the swtpm TCTI expects the control port at
/// `port + 1`.
fn free_port_pair() -> (u16, u16) {
	loop {
		let port = free_port();
		if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
			return (port, port + 1);
		}
	}
}

fn swtpm() -> Swtpm {
	let state = tempfile::tempdir().unwrap();
	let (port, ctrl) = free_port_pair();
	let child = Command::new("swtpm")
		.args(["socket", "--tpm2", "--flags", "not-need-init,startup-clear"])
		.arg("--server")
		.arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
		.arg("--ctrl")
		.arg(format!("type=tcp,port={ctrl},bindaddr=127.0.0.1"))
		.arg("--tpmstate")
		.arg(format!("dir={}", state.path().display()))
		.stdout(Stdio::null())
		.stderr(Stdio::null())
		.spawn()
		.expect("swtpm is installed (scripts/setup.sh)");
	let started = Instant::now();
	while TcpStream::connect(("127.0.0.1", port)).is_err() {
		assert!(started.elapsed() < Duration::from_secs(10), "swtpm did not start");
		std::thread::sleep(Duration::from_millis(20));
	}
	Swtpm { child, tcti: format!("swtpm:host=127.0.0.1,port={port}"), _state: state }
}

#[test]
fn identity_is_stable_and_the_worker_measures_itself_once() {
	let tpm = swtpm();
	let mut first = Tpm::open(&tpm.tcti).unwrap();
	let id = first.identity().clone();
	assert_eq!(id.ek_public.len(), 91, "DER SPKI of a P-256 key");
	assert_eq!(id.node_id, pallet_tea_nodes::node_id(&id.ek_public).0);
	assert!(tea_primitives::tpm::valid_attestation_key(&id.attestation_key));
	let pcrs = first.read_pcrs().unwrap();
	assert_eq!(pcr_digest(&pcrs), expected_measurement().unwrap(), "PCR 16 holds this binary");
	drop(first);
	// Reopened: the same keys (the AK is persistent), and no second extend.
	let mut again = Tpm::open(&tpm.tcti).unwrap();
	assert_eq!(again.identity(), &id);
	assert_eq!(again.read_pcrs().unwrap(), pcrs);
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
