//! Committee checks against real software TPMs: EK certificates written by `swtpm_setup` and
//! signed by a local CA (the development stand-in for a TPM vendor), credential activation
//! between two TPMs, and a whole examination over libp2p.

mod swtpm;

use std::time::Duration;
use swtpm::{swtpm, LocalCa};
use tea_worker::{
	committee::{answer_on, ekcert, examine, Candidate, Finding},
	p2p,
	tpm::{Tpm, TpmError, TpmHandle},
};

fn ca_key(ca: &LocalCa) -> Vec<u8> {
	ekcert::ca_key_of(&std::fs::read(ca.issuer_cert()).unwrap()).unwrap()
}

#[test]
fn swtpm_ek_certificates_chain_to_their_ca_only() {
	let ca = LocalCa::new();
	let tpm = ca.swtpm();
	let id = Tpm::open(&tpm.tcti).unwrap().identity().clone();
	assert!(!id.ek_certificate.is_empty(), "swtpm_setup wrote the EK certificate");
	let vendor = ca_key(&ca);
	assert_eq!(ekcert::verify(&id.ek_certificate, &id.ek_public, &[vendor.clone()]), Ok(0));
	// The same CA certified another TPM: that certificate is not for this EK.
	let sibling = ca.swtpm();
	let sibling = Tpm::open(&sibling.tcti).unwrap().identity().clone();
	assert_eq!(
		ekcert::verify(&sibling.ek_certificate, &id.ek_public, &[vendor.clone()]),
		Err(ekcert::EkCertError::OtherKey)
	);
	// Another vendor's CA is not on the allowlist.
	let other = LocalCa::new();
	let foreign = other.swtpm();
	let foreign = Tpm::open(&foreign.tcti).unwrap().identity().clone();
	assert_eq!(
		ekcert::verify(&foreign.ek_certificate, &foreign.ek_public, &[vendor.clone()]),
		Err(ekcert::EkCertError::UntrustedIssuer(1))
	);
	assert_eq!(
		ekcert::verify(&foreign.ek_certificate, &foreign.ek_public, &[vendor, ca_key(&other)]),
		Ok(1)
	);
	// The allowlist entry reads the same from PEM and DER; garbage is refused.
	let pem = std::fs::read(ca.issuer_cert()).unwrap();
	let der = {
		use x509_cert::der::{DecodePem, Encode};
		x509_cert::Certificate::from_pem(&pem).unwrap().to_der().unwrap()
	};
	assert_eq!(ekcert::ca_key_of(&der).unwrap(), ekcert::ca_key_of(&pem).unwrap());
	assert!(ekcert::ca_key_of(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
		.is_err());
}

#[test]
fn only_the_tpm_with_both_keys_activates_a_credential() {
	let ca = LocalCa::new();
	let (candidate, member, other) = (ca.swtpm(), swtpm(), swtpm());
	let mut candidate = Tpm::open(&candidate.tcti).unwrap();
	let mut member = Tpm::open(&member.tcti).unwrap();
	let mut other = Tpm::open(&other.tcti).unwrap();
	let id = candidate.identity().clone();
	let secret = [0x5a; 32];

	let (blob, enc) = member.make_credential(&id.ek_public, &id.attestation_key, &secret).unwrap();
	assert_eq!(candidate.activate_credential(&blob, &enc).unwrap(), secret.to_vec());
	// Twice in a row (sessions and objects are flushed: swtpm has three slots of each).
	for _ in 0..4 {
		let (blob, enc) =
			member.make_credential(&id.ek_public, &id.attestation_key, &secret).unwrap();
		assert_eq!(candidate.activate_credential(&blob, &enc).unwrap(), secret.to_vec());
	}

	// Bound to another AK: the candidate's TPM has no such object.
	let foreign_ak = other.identity().attestation_key;
	let (blob, enc) = member.make_credential(&id.ek_public, &foreign_ak, &secret).unwrap();
	assert!(matches!(candidate.activate_credential(&blob, &enc), Err(TpmError::Tss { .. })));
	// Sealed to another EK: the other TPM holds neither the EK nor (here) the AK.
	let (blob, enc) = member.make_credential(&id.ek_public, &id.attestation_key, &secret).unwrap();
	assert!(other.activate_credential(&blob, &enc).is_err());
	// Another TPM claiming the candidate's certified EK with its own AK fails too.
	let (blob, enc) =
		member.make_credential(&id.ek_public, &other.identity().attestation_key, &secret).unwrap();
	assert!(other.activate_credential(&blob, &enc).is_err());
	// Tampered blobs.
	let (mut blob, mut enc) =
		member.make_credential(&id.ek_public, &id.attestation_key, &secret).unwrap();
	blob[10] ^= 1;
	assert!(candidate.activate_credential(&blob, &enc).is_err());
	blob[10] ^= 1;
	enc[20] ^= 1;
	assert!(candidate.activate_credential(&blob, &enc).is_err());
	assert!(candidate.activate_credential(&[], &[]).is_err());
	// The TPM still works after all the failures (nothing leaked).
	let (blob, enc) = member.make_credential(&id.ek_public, &id.attestation_key, &secret).unwrap();
	assert_eq!(candidate.activate_credential(&blob, &enc).unwrap(), secret.to_vec());

	// Malformed registered keys are named.
	assert!(matches!(
		member.make_credential(&[0x30, 0x00], &id.attestation_key, &secret),
		Err(TpmError::NotRsa2048(_))
	));
	let mut bad_point = id.attestation_key;
	bad_point[64] ^= 1;
	assert!(matches!(
		member.make_credential(&id.ek_public, &bad_point, &secret),
		Err(TpmError::NotP256(_))
	));
	assert!(matches!(
		member.make_credential(&id.ek_public, &id.attestation_key, &[0; 33]),
		Err(TpmError::Credential(33))
	));
}

/// A candidate's endpoint: its TPM answers every request (no gate), only `member` may connect.
async fn serve(tcti: String, member: libp2p::PeerId) -> (p2p::Network, TpmHandle) {
	let tpm = tokio::task::spawn_blocking(move || TpmHandle::open(&tcti)).await.unwrap().unwrap();
	let key = libp2p::identity::Keypair::generate_ed25519();
	let listen = ["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
	let (network, mut inbound) =
		p2p::Network::start(key, &listen, p2p::Limits::default(), Box::new(|_| Ok(())))
			.await
			.unwrap();
	network.allow(vec![member]).await.unwrap();
	let answering = tpm.clone();
	tokio::spawn(async move {
		while let Some(p2p::Inbound { request, reply, .. }) = inbound.recv().await {
			let _ = reply.send(answer_on(&answering, request).await);
		}
	});
	(network, tpm)
}

fn registered(id: &tea_worker::tpm::Identity, addr: &libp2p::Multiaddr) -> Candidate {
	Candidate {
		node: id.node_id,
		ek_public: id.ek_public.clone(),
		ek_certificate: id.ek_certificate.clone(),
		attestation_key: id.attestation_key,
		peer_id: p2p::peer_of(addr).unwrap().to_bytes(),
	}
}

#[tokio::test]
async fn a_member_examines_candidates_over_libp2p() {
	let ca = LocalCa::new();
	let (good, member) = (ca.swtpm(), swtpm());
	let vendor = vec![ca_key(&ca)];
	let member_tcti = member.tcti.clone();
	let member_tpm =
		tokio::task::spawn_blocking(move || TpmHandle::open(&member_tcti)).await.unwrap().unwrap();
	let (network, _inbound) = p2p::Network::start(
		libp2p::identity::Keypair::generate_ed25519(),
		&["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
		p2p::Limits { request_timeout: Duration::from_secs(10), ..Default::default() },
		Box::new(|_| Ok(())),
	)
	.await
	.unwrap();
	let (candidate_net, candidate_tpm) = serve(good.tcti.clone(), network.peer_id()).await;
	let good_id = candidate_tpm.identity().clone();
	let good_addr = candidate_net.listening()[0].clone();
	network.allow(vec![candidate_net.peer_id()]).await.unwrap();
	let known = vec![good_addr.clone()];
	let good = registered(&good_id, &good_addr);
	let check = |candidate: Candidate, known: Vec<libp2p::Multiaddr>, ca_keys: Vec<Vec<u8>>| {
		let (tpm, network) = (member_tpm.clone(), network.clone());
		async move { examine(&tpm, &network, &known, &candidate, &ca_keys).await.unwrap() }
	};
	assert_eq!(check(good.clone(), known.clone(), vendor.clone()).await, Finding::Approve);
	// A bare address (no peer id) is no address for it: it would be dialled for every
	// candidate and reach the wrong peers. The member abstains.
	let bare: libp2p::Multiaddr =
		good_addr.iter().filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_))).collect();
	let finding = check(good.clone(), vec![bare], vendor.clone()).await;
	assert!(matches!(&finding, Finding::Abstain(r) if r.contains("no address")), "{finding:?}");

	// The CA is not (or no longer) allowlisted.
	let finding = check(good.clone(), known.clone(), vec![]).await;
	assert!(matches!(&finding, Finding::Reject(r) if r.contains("no allowlisted")), "{finding:?}");

	// A certified TPM registered with an AK it does not hold (a software key that would let
	// its operator forge quotes): the candidate's TPM cannot activate the credential.
	let forged =
		Candidate { attestation_key: tea_primitives::tpm::dev_attestation_key(1), ..good.clone() };
	let finding = check(forged, known.clone(), vendor.clone()).await;
	assert!(
		matches!(&finding, Finding::Reject(r) if r.contains("could not activate")),
		"{finding:?}"
	);

	// The challenge names another node: the candidate refuses.
	let other = Candidate { node: [9; 32], ..good.clone() };
	let finding = check(other, known.clone(), vendor.clone()).await;
	assert!(
		matches!(&finding, Finding::Reject(r) if r.contains("this worker is node")),
		"{finding:?}"
	);

	// A garbage peer id is a reject; a peer with no known address is this member's problem:
	// it abstains.
	let garbage = Candidate { peer_id: vec![1, 2, 3], ..good.clone() };
	let finding = check(garbage, known.clone(), vendor.clone()).await;
	assert!(matches!(finding, Finding::Reject(_)), "{finding:?}");
	let finding = check(good.clone(), vec![], vendor.clone()).await;
	assert!(matches!(&finding, Finding::Abstain(r) if r.contains("no address")), "{finding:?}");
}
