//! EK certificate checks: the certificate a candidate registered must certify the EK it
//! registered, and must be signed by a TPM vendor CA key the chain allowlists
//! (`upgrades.caKeys`, DER `SubjectPublicKeyInfo`s chosen by governance).
//!
//! The allowlist holds the keys that *issue* EK certificates (a vendor's issuing CA), so the
//! chain is one link: EK certificate → allowlisted key. Signatures are checked with `ring`:
//! RSA PKCS#1 v1.5 (2048–8192 bits) with SHA-256/384/512 and ECDSA P-256/P-384 with
//! SHA-256/384, the algorithms TPM vendors sign EK certificates with.

use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_cert::{
	der::{oid::ObjectIdentifier, Decode, Encode},
	spki::SubjectPublicKeyInfoRef,
	Certificate,
};

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");

/// Why an EK certificate is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EkCertError {
	/// The node registered no certificate.
	#[error("the node registered no EK certificate")]
	Missing,
	/// Not a DER X.509 certificate.
	#[error("the EK certificate is not DER X.509: {0}")]
	Malformed(String),
	/// The certificate certifies another key than the registered EK.
	#[error("the EK certificate certifies another key than the registered EK")]
	OtherKey,
	/// The certificate is signed with an algorithm this checker does not take.
	#[error("the EK certificate is signed with {0}, which is not accepted")]
	UnsupportedAlgorithm(String),
	/// No allowlisted CA key signed it.
	#[error("no allowlisted TPM vendor CA key signed the EK certificate ({0} keys tried)")]
	UntrustedIssuer(usize),
}

/// The allowlist entry (`upgrades.addCaKey`) for a CA: the DER `SubjectPublicKeyInfo` of its
/// certificate (PEM or DER).
pub fn ca_key_of(cert: &[u8]) -> Result<Vec<u8>, EkCertError> {
	let malformed = |e: x509_cert::der::Error| EkCertError::Malformed(e.to_string());
	let parsed = match cert.starts_with(b"-----BEGIN") {
		true => {
			use x509_cert::der::DecodePem;
			Certificate::from_pem(cert).map_err(malformed)?
		}
		false => Certificate::from_der(cert).map_err(malformed)?,
	};
	parsed.tbs_certificate.subject_public_key_info.to_der().map_err(malformed)
}

/// Checks that `cert` (DER) certifies `ek_public` (DER `SubjectPublicKeyInfo`, byte for byte
/// as registered) and is signed by one of `ca_keys` (DER `SubjectPublicKeyInfo`s). Returns the
/// index of the CA key that signed it.
pub fn verify(cert: &[u8], ek_public: &[u8], ca_keys: &[Vec<u8>]) -> Result<usize, EkCertError> {
	if cert.is_empty() {
		return Err(EkCertError::Missing);
	}
	let parsed = Certificate::from_der(cert).map_err(|e| EkCertError::Malformed(e.to_string()))?;
	let tbs = &parsed.tbs_certificate;
	let certified =
		tbs.subject_public_key_info.to_der().map_err(|e| EkCertError::Malformed(e.to_string()))?;
	if certified != ek_public {
		return Err(EkCertError::OtherKey);
	}
	if tbs.signature != parsed.signature_algorithm {
		return Err(EkCertError::Malformed("inner and outer signature algorithms differ".into()));
	}
	let signed = tbs.to_der().map_err(|e| EkCertError::Malformed(e.to_string()))?;
	let signature = parsed
		.signature
		.as_bytes()
		.ok_or_else(|| EkCertError::Malformed("signature is not whole bytes".into()))?;
	let algorithm = parsed.signature_algorithm.oid;
	if ![SHA256_WITH_RSA, SHA384_WITH_RSA, SHA512_WITH_RSA, ECDSA_SHA256, ECDSA_SHA384]
		.contains(&algorithm)
	{
		return Err(EkCertError::UnsupportedAlgorithm(algorithm.to_string()));
	}
	ca_keys
		.iter()
		.position(|key| {
			ca_verifier(key, algorithm).is_some_and(|(alg, point)| {
				UnparsedPublicKey::new(alg, point).verify(&signed, signature).is_ok()
			})
		})
		.ok_or(EkCertError::UntrustedIssuer(ca_keys.len()))
}

/// The `ring` algorithm and raw public key of a CA key for a signature algorithm, if the key
/// parses and fits the algorithm.
fn ca_verifier(
	key: &[u8],
	algorithm: ObjectIdentifier,
) -> Option<(&'static dyn VerificationAlgorithm, &[u8])> {
	let spki = SubjectPublicKeyInfoRef::from_der(key).ok()?;
	let raw = spki.subject_public_key.as_bytes()?;
	let curve = || spki.algorithm.parameters_oid().ok();
	let alg: &'static dyn VerificationAlgorithm = match spki.algorithm.oid {
		RSA_ENCRYPTION => match algorithm {
			SHA256_WITH_RSA => &signature::RSA_PKCS1_2048_8192_SHA256,
			SHA384_WITH_RSA => &signature::RSA_PKCS1_2048_8192_SHA384,
			SHA512_WITH_RSA => &signature::RSA_PKCS1_2048_8192_SHA512,
			_ => return None,
		},
		EC_PUBLIC_KEY => match (curve()?, algorithm) {
			(P256, ECDSA_SHA256) => &signature::ECDSA_P256_SHA256_ASN1,
			(P256, ECDSA_SHA384) => &signature::ECDSA_P256_SHA384_ASN1,
			(P384, ECDSA_SHA256) => &signature::ECDSA_P384_SHA256_ASN1,
			(P384, ECDSA_SHA384) => &signature::ECDSA_P384_SHA384_ASN1,
			_ => return None,
		},
		_ => return None,
	};
	Some((alg, raw))
}

#[cfg(test)]
mod tests {
	//! The RSA path runs against real swtpm EK certificates in `tests/committee.rs`; here
	//! ECDSA CAs made with rcgen, and hostile certificates.
	use super::*;
	use rcgen::{BasicConstraints, Certificate as Made, CertificateParams, IsCa, KeyPair};

	fn ca(alg: &'static rcgen::SignatureAlgorithm) -> Made {
		let mut params = CertificateParams::new(vec![]);
		params.alg = alg;
		params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
		params.key_pair = Some(KeyPair::generate(alg).unwrap());
		Made::from_params(params).unwrap()
	}

	/// An "EK" certificate signed by `ca`; returns (certificate, certified SPKI).
	fn ek_cert(ca: &Made) -> (Vec<u8>, Vec<u8>) {
		let mut params = CertificateParams::new(vec![]);
		params.alg = &rcgen::PKCS_ECDSA_P256_SHA256;
		params.key_pair = Some(KeyPair::generate(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap());
		let ek = Made::from_params(params).unwrap();
		(ek.serialize_der_with_signer(ca).unwrap(), ek.get_key_pair().public_key_der())
	}

	fn spki(ca: &Made) -> Vec<u8> {
		ca.get_key_pair().public_key_der()
	}

	#[test]
	fn a_certificate_from_an_allowlisted_ecdsa_ca_is_accepted() {
		for alg in [&rcgen::PKCS_ECDSA_P256_SHA256, &rcgen::PKCS_ECDSA_P384_SHA384] {
			let vendor = ca(alg);
			let other = ca(alg);
			let (cert, ek) = ek_cert(&vendor);
			assert_eq!(verify(&cert, &ek, &[spki(&other), spki(&vendor)]), Ok(1));
			assert_eq!(verify(&cert, &ek, &[spki(&other)]), Err(EkCertError::UntrustedIssuer(1)));
			assert_eq!(verify(&cert, &ek, &[]), Err(EkCertError::UntrustedIssuer(0)));
		}
	}

	#[test]
	fn a_certificate_for_another_key_is_refused() {
		let vendor = ca(&rcgen::PKCS_ECDSA_P256_SHA256);
		let (cert, _) = ek_cert(&vendor);
		let (_, other_ek) = ek_cert(&vendor);
		assert_eq!(verify(&cert, &other_ek, &[spki(&vendor)]), Err(EkCertError::OtherKey));
	}

	#[test]
	fn tampered_truncated_and_missing_certificates_are_refused() {
		let vendor = ca(&rcgen::PKCS_ECDSA_P256_SHA256);
		let (cert, ek) = ek_cert(&vendor);
		let keys = [spki(&vendor)];
		assert_eq!(verify(&[], &ek, &keys), Err(EkCertError::Missing));
		for len in [1, 10, cert.len() / 2, cert.len() - 1] {
			assert!(matches!(verify(&cert[..len], &ek, &keys), Err(EkCertError::Malformed(_))));
		}
		// Flip a byte of the signed serial number: the signature no longer verifies.
		let serial = cert.windows(3).position(|w| w == [0xa0, 0x03, 0x02]).unwrap() + 8;
		let mut tampered = cert.clone();
		tampered[serial] ^= 1;
		assert_eq!(verify(&tampered, &ek, &keys), Err(EkCertError::UntrustedIssuer(1)));
		// Flip the last signature byte.
		let mut tampered = cert.clone();
		*tampered.last_mut().unwrap() ^= 1;
		assert!(verify(&tampered, &ek, &keys).is_err());
		// Garbage CA keys are skipped, not fatal.
		assert_eq!(verify(&cert, &ek, &[vec![0x30, 0x00], vec![], keys[0].clone()]), Ok(2));
	}

	#[test]
	fn unsupported_signature_algorithms_are_named() {
		let vendor = ca(&rcgen::PKCS_ED25519);
		let (cert, ek) = ek_cert(&vendor);
		assert_eq!(
			verify(&cert, &ek, &[spki(&vendor)]),
			Err(EkCertError::UnsupportedAlgorithm("1.3.101.112".into()))
		);
	}
}
