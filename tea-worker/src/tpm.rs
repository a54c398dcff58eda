//! The worker's TPM: identity, measurement and quotes, through tss-esapi against a real TPM or
//! swtpm (`swtpm:host=127.0.0.1,port=2321`, `device:/dev/tpmrm0`, any TCTI string).
//!
//! - **Identity.** The endorsement key is the TCG standard RSA 2048 EK (template L-1,
//!   re-derived from the TPM's endorsement seed, so it is the same every time): the EK every
//!   TPM 2.0 has, and the one TPM vendors certify (its certificate is read from NV index
//!   [`EK_CERT_NV_INDEX`]). The attestation key is a restricted P-256 ECDSA/SHA-256 signing key
//!   created under the EK and made persistent at [`AK_HANDLE`], so the same AK survives
//!   restarts. The node id is `blake2_256` of the EK's DER `SubjectPublicKeyInfo`, as
//!   `pallet-tea-nodes` computes it.
//! - **Credential activation.** A committee member's TPM makes a credential for a candidate's
//!   EK and AK ([`Tpm::make_credential`], TPM2_MakeCredential: no private key needed); only
//!   the TPM that holds both that EK and an AK with exactly that public area can release it
//!   ([`Tpm::activate_credential`], TPM2_ActivateCredential). That binds the AK the chain
//!   verifies quotes with to the certified EK.
//! - **Measurement.** Everything the worker measures is logged, then extended into the log PCR
//!   ([`Tpm::measure`], [`crate::evidence`]): the launcher measures the runtime binary and its
//!   configuration before it runs them (`tea-worker launch`), the runtime every actor release
//!   before it compiles it. The *measurement* governance allowlists is the SHA-256 of the
//!   runtime binary ([`runtime_digest`] computes it without a TPM).
//! - **Quotes.** `TPM2_Quote` over the PCRs of the chain's policy with the chain's challenge as
//!   qualifying data; the worker verifies its own quote with the runtime's verifier
//!   (`tea_primitives::tpm::verify_quote`) and replays its own log before anyone submits it.
//! - **Development boot.** A development swtpm has no firmware to measure the boot: the managed
//!   swtpm (and `tea-worker tpm dev-boot`) extends PCRs 0-7 with public development values
//!   ([`dev_boot`]) so that the boot part of the policy is exercised.
//!
//! swtpm has three transient object slots and no resource manager: every transient object is
//! flushed as soon as it is no longer needed.

use crate::evidence::{Cycle, EvidenceLog, Opened};
use sha2::{Digest as _, Sha256};
use std::str::FromStr;
use tea_primitives::{
	evidence::{EventKind, LogEvent},
	tpm as verifier,
};
use tss_esapi::{
	abstraction::{ak, ek},
	constants::{CapabilityType, SessionType},
	handles::{
		AuthHandle, KeyHandle, ObjectHandle, PcrHandle, PersistentTpmHandle, SessionHandle,
		TpmHandle as TssHandle,
	},
	interface_types::{
		algorithm::{AsymmetricAlgorithm, HashingAlgorithm, SignatureSchemeAlgorithm},
		dynamic_handles::Persistent,
		resource_handles::{Hierarchy, Provision},
		session_handles::{AuthSession, PolicySession},
	},
	structures::{
		CapabilityData, Data, Digest, DigestValues, EccParameter, EccPoint, EncryptedSecret,
		IdObject, Name, PcrSelectionListBuilder, PcrSlot, Public, PublicKeyRsa, SignatureScheme,
		SymmetricDefinition,
	},
	traits::Marshall,
	Context, TctiNameConf,
};

/// The persistent handle of the worker's attestation key (endorsement range).
pub const AK_HANDLE: u32 = 0x8101_0010;
/// The NV index of the RSA 2048 EK certificate (TCG EK Credential Profile).
pub const EK_CERT_NV_INDEX: u32 = 0x01c0_0002;

/// DER of an RSA 2048 `SubjectPublicKeyInfo` (rsaEncryption, NULL parameters) up to the
/// modulus: the modulus follows (256 bytes, top bit set), then [`RSA_SPKI_EXPONENT`].
const RSA2048_SPKI_PREFIX: [u8; 33] = [
	0x30, 0x82, 0x01, 0x22, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
	0x01, 0x05, 0x00, 0x03, 0x82, 0x01, 0x0f, 0x00, 0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01,
	0x00,
];
/// The public exponent 65537 (`INTEGER 0x010001`), the last bytes of the SPKI.
const RSA_SPKI_EXPONENT: [u8; 5] = [0x02, 0x03, 0x01, 0x00, 0x01];

/// What went wrong with the TPM.
#[derive(Debug, thiserror::Error)]
pub enum TpmError {
	/// The TCTI string does not parse.
	#[error("bad TPM address {0:?}: expected a TCTI such as swtpm:host=127.0.0.1,port=2321")]
	BadTcti(String),
	/// The TPM refused or failed a command.
	#[error("TPM: {context}: {source}")]
	Tss {
		/// What the worker was doing.
		context: &'static str,
		/// The TSS error.
		source: tss_esapi::Error,
	},
	/// A key is not a P-256 point.
	#[error("TPM: {0} is not a P-256 ECC key")]
	NotP256(&'static str),
	/// A key is not RSA 2048 with exponent 65537.
	#[error("{0} is not an RSA 2048 key with exponent 65537 (the TCG standard EK)")]
	NotRsa2048(&'static str),
	/// A credential longer than the EK's name digest.
	#[error("credential of {0} bytes: at most 32")]
	Credential(usize),
	/// The TPM's own quote does not verify: the TPM or this worker is broken.
	#[error("TPM: own quote does not verify: {0:?}")]
	OwnQuote(verifier::QuoteError),
	/// The object at the AK handle is not a restricted, TPM-bound signing key.
	#[error("TPM: the key at {0:#x} is not a restricted signing key fixed to this TPM")]
	NotAnAttestationKey(u32),
	/// The TPM has no SHA-256 PCR bank.
	#[error("TPM: no SHA-256 value for PCR {0}")]
	NoPcrBank(u8),
	/// A PCR index outside 0-23.
	#[error("TPM: there is no PCR {0}")]
	NoSuchPcr(u8),
	/// The event log failed.
	#[error(transparent)]
	Log(#[from] crate::evidence::LogError),
	/// The TPM was opened without an event log.
	#[error("TPM: no event log is kept")]
	NoLog,
	/// The boot PCRs hold values that are neither zero nor the development boot's.
	#[error(
		"TPM: PCR {0} holds neither zero nor its development boot value: this TPM booted otherwise"
	)]
	NotDevBoot(u8),
	/// The nonce is longer than a TPM accepts.
	#[error("nonce of {0} bytes: at most 64")]
	Nonce(usize),
	/// The worker's executable could not be read (or the TPM thread not started).
	#[error("cannot read own executable: {0}")]
	Exe(std::io::Error),
	/// The TPM thread is gone (the worker is stopping).
	#[error("TPM: the TPM thread stopped")]
	Gone,
}

fn tss(context: &'static str) -> impl FnOnce(tss_esapi::Error) -> TpmError {
	move |source| TpmError::Tss { context, source }
}

/// The node's TPM identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
	/// The EK public key, DER `SubjectPublicKeyInfo`.
	pub ek_public: Vec<u8>,
	/// The EK certificate (DER) from NV index [`EK_CERT_NV_INDEX`]; empty if the TPM has none.
	pub ek_certificate: Vec<u8>,
	/// The attestation key, uncompressed SEC1 P-256.
	pub attestation_key: [u8; 65],
	/// The node id: `blake2_256` of `ek_public`.
	pub node_id: [u8; 32],
}

/// A quote as the chain takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
	/// `TPMS_ATTEST`.
	pub attest: Vec<u8>,
	/// `TPMT_SIGNATURE`.
	pub signature: Vec<u8>,
	/// The quoted PCRs (index, SHA-256 value).
	pub pcrs: Vec<(u8, [u8; 32])>,
	/// Their digest: the measurement.
	pub measurement: [u8; 32],
	/// The TPM's clock and reset and restart counts when it quoted.
	pub clock: verifier::TpmClock,
}

/// A connection to the TPM with the worker's keys loaded.
pub struct Tpm {
	context: Context,
	ak: KeyHandle,
	/// The AK's public area: the template other nodes' AKs are checked against.
	ak_public: Public,
	identity: Identity,
	/// The event log of the log PCR, once opened ([`Tpm::open_log`]).
	log: Option<EvidenceLog>,
}

impl Tpm {
	/// Connects to the TPM at `tcti` and creates the attestation key on first use.
	pub fn open(tcti: &str) -> Result<Self, TpmError> {
		let conf = TctiNameConf::from_str(tcti).map_err(|_| TpmError::BadTcti(tcti.into()))?;
		let mut context = Context::new(conf).map_err(tss("connecting"))?;
		let ek = ek::create_ek_object(&mut context, AsymmetricAlgorithm::Rsa, None)
			.map_err(tss("creating the endorsement key"))?;
		let ek_public = context.read_public(ek).map_err(tss("reading the EK"));
		let ak = ek_public.and_then(|(ek_public, _, _)| {
			let ak = Self::attestation_key(&mut context, ek)?;
			Ok((ek_public, ak))
		});
		// The EK is transient: flush it whatever happened.
		let _ = context.flush_context(ek.into());
		let (ek_public, ak) = ak?;
		let (ak_public, _, _) = context.read_public(ak).map_err(tss("reading the AK"))?;
		let ek_public = rsa_spki(&ek_public).ok_or(TpmError::NotRsa2048("the EK"))?;
		let attestation_key = p256_point(&ak_public).ok_or(TpmError::NotP256("the AK"))?;
		if !is_attestation_key(&ak_public) {
			return Err(TpmError::NotAnAttestationKey(AK_HANDLE));
		}
		let ek_certificate = read_ek_certificate(&mut context)?;
		let node_id = pallet_tea_nodes::node_id(&ek_public).0;
		let identity = Identity { ek_public, ek_certificate, attestation_key, node_id };
		Ok(Self { context, ak, ak_public, identity, log: None })
	}

	/// The persistent AK, created under the EK and persisted on first use.
	fn attestation_key(context: &mut Context, ek: KeyHandle) -> Result<KeyHandle, TpmError> {
		let handle = PersistentTpmHandle::new(AK_HANDLE).map_err(tss("AK handle"))?;
		// Look before loading, so that a first start logs no TSS error.
		let (listed, _) = context
			.get_capability(CapabilityType::Handles, AK_HANDLE, 1)
			.map_err(tss("listing persistent handles"))?;
		let present = matches!(&listed, CapabilityData::Handles(list)
			if list.iter().any(|h| u32::from(*h) == AK_HANDLE));
		if present {
			let object = context
				.tr_from_tpm_public(TssHandle::Persistent(handle))
				.map_err(tss("loading the attestation key"))?;
			return Ok(object.into());
		}
		let created = ak::create_ak(
			context,
			ek,
			HashingAlgorithm::Sha256,
			SignatureSchemeAlgorithm::EcDsa,
			None,
			None,
		)
		.map_err(tss("creating the attestation key"))?;
		let transient = ak::load_ak(context, ek, None, created.out_private, created.out_public)
			.map_err(tss("loading the attestation key"))?;
		let persisted = context.execute_with_session(Some(AuthSession::Password), |c| {
			c.evict_control(Provision::Owner, transient.into(), Persistent::Persistent(handle))
		});
		let _ = context.flush_context(transient.into());
		let persisted: ObjectHandle = persisted.map_err(tss("persisting the AK"))?;
		Ok(persisted.into())
	}

	/// The node's identity.
	pub fn identity(&self) -> &Identity {
		&self.identity
	}

	/// Extends PCR `pcr`'s SHA-256 bank with `digest` (`TPM2_PCR_Extend`). What the worker
	/// measures goes through [`Tpm::measure`], which logs it first.
	pub fn extend(&mut self, pcr: u8, digest: [u8; 32]) -> Result<(), TpmError> {
		extend_in(&mut self.context, pcr, digest)
	}

	/// The SHA-256 bank values of `pcrs` (ascending), in that order.
	pub fn read_pcrs(&mut self, pcrs: &[u8]) -> Result<Vec<(u8, [u8; 32])>, TpmError> {
		read_pcrs_in(&mut self.context, pcrs)
	}

	/// Quotes `pcrs` (ascending) with `nonce` and checks the quote with the runtime's
	/// verifier.
	pub fn quote_pcrs(&mut self, nonce: &[u8], pcrs: &[u8]) -> Result<Quote, TpmError> {
		if nonce.len() > 64 {
			return Err(TpmError::Nonce(nonce.len()));
		}
		let indices = pcrs;
		let selection = selection(indices)?;
		let data = Data::try_from(nonce.to_vec()).map_err(tss("nonce"))?;
		let ak = self.ak;
		let (attest, signature) = self
			.context
			.execute_with_nullauth_session(|c| c.quote(ak, data, SignatureScheme::Null, selection))
			.map_err(tss("quoting"))?;
		let attest = attest.marshall().map_err(tss("marshalling the quote"))?;
		let signature = signature.marshall().map_err(tss("marshalling the signature"))?;
		let pcrs = self.read_pcrs(indices)?;
		let info = verifier::verify_quote(
			&self.identity.attestation_key,
			&attest,
			&signature,
			nonce,
			&pcrs,
		)
		.map_err(TpmError::OwnQuote)?;
		Ok(Quote { attest, signature, pcrs, measurement: info.pcr_digest, clock: info.clock })
	}
}

/// The event log ([`crate::evidence`]): the TPM owner logs before it extends.
impl Tpm {
	/// Opens the event log at `path` for log PCR `pcr`: the TPM's counts and the PCR's value
	/// come from one quote, so they belong together.
	pub fn open_log(&mut self, path: &std::path::Path, pcr: u8) -> Result<Opened, TpmError> {
		if pcr > tea_primitives::evidence::MAX_POLICY_PCR {
			return Err(crate::evidence::LogError::BadPcr(pcr).into());
		}
		let quote = self.quote_pcrs(&[], &[pcr])?;
		let cycle = Cycle {
			reset_count: quote.clock.reset_count,
			restart_count: quote.clock.restart_count,
			pcr,
		};
		let (log, opened) = EvidenceLog::open(path, cycle, quote.pcrs[0].1)?;
		self.log = Some(log);
		Ok(opened)
	}

	/// The event log, if opened.
	pub fn log(&self) -> Option<&EvidenceLog> {
		self.log.as_ref()
	}

	/// Records `kind`/`data` in the event log, then extends its digest into the log PCR
	/// (nothing when an actor or provider is already recorded in this cycle). Returns whether
	/// it extended.
	pub fn measure(&mut self, kind: EventKind, data: &[u8]) -> Result<bool, TpmError> {
		let pcr = self.log.as_ref().ok_or(TpmError::NoLog)?.pcr();
		if self.log.as_ref().is_some_and(EvidenceLog::unsettled) {
			self.settle_log()?;
		}
		let log = self.log.as_mut().ok_or(TpmError::NoLog)?;
		let Some(digest) = log.begin(kind, data)? else { return Ok(false) };
		match self.extend(pcr, digest) {
			Ok(()) => {
				self.log.as_mut().ok_or(TpmError::NoLog)?.extended();
				Ok(true)
			}
			Err(e) => {
				// It may have happened: the PCR says (or the next measure or quote asks again).
				let _ = self.settle_log();
				Err(e)
			}
		}
	}

	/// Tells the event log what the chain accepted last (see [`EvidenceLog::set_chain`]);
	/// returns how many entries are not proven yet.
	pub fn set_chain(
		&mut self,
		base: Option<(u32, [u8; 32])>,
		max: u32,
	) -> Result<usize, TpmError> {
		let log = self.log.as_mut().ok_or(TpmError::NoLog)?;
		log.set_chain(base, max);
		Ok(log.unproven())
	}

	/// Settles the event log against the log PCR's value.
	fn settle_log(&mut self) -> Result<bool, TpmError> {
		let pcr = self.log.as_ref().ok_or(TpmError::NoLog)?.pcr();
		let value = self.read_pcrs(&[pcr])?[0].1;
		Ok(self.log.as_mut().ok_or(TpmError::NoLog)?.settle(value)?)
	}

	/// Quotes `pcrs` (ascending, the log PCR among them) with `nonce`, and returns the quote
	/// with the log entries it must carry: those after `base` (the reset count and log PCR
	/// value of the node's last quote the chain accepted, see [`EvidenceLog::since`]).
	pub fn quote_with_log(
		&mut self,
		nonce: &[u8],
		pcrs: &[u8],
		base: Option<(u32, [u8; 32])>,
	) -> Result<(Quote, Vec<LogEvent>), TpmError> {
		let pcr = self.log.as_ref().ok_or(TpmError::NoLog)?.pcr();
		let quote = self.quote_pcrs(nonce, pcrs)?;
		let value = quote
			.pcrs
			.iter()
			.find(|(index, _)| *index == pcr)
			.map(|(_, value)| *value)
			.ok_or(TpmError::NoPcrBank(pcr))?;
		let log = self.log.as_mut().ok_or(TpmError::NoLog)?;
		if !log.settle(value)? {
			return Err(crate::evidence::LogError::Unprovable { pcr }.into());
		}
		let entries = log.since(base, quote.clock.reset_count).to_vec();
		Ok((quote, entries))
	}
}

impl Tpm {
	/// TPM2_MakeCredential on this TPM for another node: `credential` (at most 32 bytes)
	/// sealed to the node's EK (`ek_public`, the registered RSA 2048 SPKI) and bound to the name
	/// of an attestation key with point `attestation_key` and this worker's own AK template
	/// (restricted, fixedTPM, fixedParent: every tea-worker AK has it). Returns the
	/// `TPM2B_ID_OBJECT` and `TPM2B_ENCRYPTED_SECRET` contents for the node's TPM.
	pub fn make_credential(
		&mut self,
		ek_public: &[u8],
		attestation_key: &[u8; 65],
		credential: &[u8],
	) -> Result<(Vec<u8>, Vec<u8>), TpmError> {
		if credential.len() > 32 {
			return Err(TpmError::Credential(credential.len()));
		}
		let ek = rsa_ek_public(ek_public)?;
		let name = self.attestation_key_name(attestation_key)?;
		let credential = Digest::try_from(credential.to_vec()).map_err(tss("credential"))?;
		let ek = self
			.context
			.execute_without_session(|c| c.load_external_public(ek, Hierarchy::Null))
			.map_err(tss("loading the node's EK"))?;
		let made = self
			.context
			.execute_without_session(|c| c.make_credential(ek, credential, name))
			.map_err(tss("making the credential"));
		let _ = self.context.flush_context(ek.into());
		let (id_object, secret) = made?;
		Ok((id_object.value().to_vec(), secret.value().to_vec()))
	}

	/// The name of an AK with this worker's AK template and the given point.
	fn attestation_key_name(&self, point: &[u8; 65]) -> Result<Name, TpmError> {
		if !verifier::valid_attestation_key(point) {
			return Err(TpmError::NotP256("the attestation key"));
		}
		let Public::Ecc {
			object_attributes, name_hashing_algorithm, auth_policy, parameters, ..
		} = self.ak_public.clone()
		else {
			return Err(TpmError::NotP256("the AK"));
		};
		let coordinate = |c: &[u8]| EccParameter::try_from(c.to_vec()).map_err(tss("AK point"));
		let public = Public::Ecc {
			object_attributes,
			name_hashing_algorithm,
			auth_policy,
			parameters,
			unique: EccPoint::new(coordinate(&point[1..33])?, coordinate(&point[33..])?),
		};
		let area = public.marshall().map_err(tss("marshalling the AK"))?;
		let mut name = vec![0x00, 0x0b]; // TPM_ALG_SHA256, the template's name algorithm
		name.extend_from_slice(&Sha256::digest(area));
		Name::try_from(name).map_err(tss("AK name"))
	}

	/// TPM2_ActivateCredential: releases a credential made for this TPM's EK and AK by
	/// [`Tpm::make_credential`] on another TPM. Fails unless both match.
	pub fn activate_credential(
		&mut self,
		id_object: &[u8],
		secret: &[u8],
	) -> Result<Vec<u8>, TpmError> {
		let id_object = IdObject::try_from(id_object.to_vec()).map_err(tss("credential blob"))?;
		let secret = EncryptedSecret::try_from(secret.to_vec()).map_err(tss("encrypted secret"))?;
		// The EK first: its creation uses (and flushes) a session of its own, and swtpm has
		// three session slots.
		let ek = ek::create_ek_object(&mut self.context, AsymmetricAlgorithm::Rsa, None)
			.map_err(tss("creating the endorsement key"))?;
		let policy = self
			.context
			.start_auth_session(
				None,
				None,
				None,
				SessionType::Policy,
				SymmetricDefinition::AES_256_CFB,
				HashingAlgorithm::Sha256,
			)
			.map_err(tss("starting a policy session"));
		let activated = policy.and_then(|session| {
			let session = session.ok_or(TpmError::Tss {
				context: "starting a policy session",
				source: tss_esapi::Error::WrapperError(
					tss_esapi::WrapperErrorKind::WrongValueFromTpm,
				),
			})?;
			let ak = self.ak;
			// The EK's policy: PolicySecret(TPM_RH_ENDORSEMENT), empty endorsement auth.
			let result = PolicySession::try_from(session)
				.and_then(|policy| {
					self.context.execute_with_session(Some(AuthSession::Password), |c| {
						c.policy_secret(
							policy,
							AuthHandle::Endorsement,
							Default::default(),
							Default::default(),
							Default::default(),
							None,
						)
					})
				})
				.and_then(|_| {
					self.context.execute_with_sessions(
						(Some(AuthSession::Password), Some(session), None),
						|c| c.activate_credential(ak, ek, id_object, secret),
					)
				})
				.map_err(tss("activating the credential"));
			let _ = self.context.flush_context(SessionHandle::from(session).into());
			result
		});
		let _ = self.context.flush_context(ek.into());
		Ok(activated?.value().to_vec())
	}
}

impl Drop for Tpm {
	fn drop(&mut self) {
		// The AK is persistent: release the ESYS reference, keep the key.
		let mut object: ObjectHandle = self.ak.into();
		let _ = self.context.tr_close(&mut object);
	}
}

/// The SHA-256 bank selection of `pcrs`.
fn selection(pcrs: &[u8]) -> Result<tss_esapi::structures::PcrSelectionList, TpmError> {
	let slots = pcrs
		.iter()
		.map(|pcr| {
			1u32.checked_shl(u32::from(*pcr))
				.and_then(|bit| PcrSlot::try_from(bit).ok())
				.filter(|_| *pcr <= 23)
				.ok_or(TpmError::NoSuchPcr(*pcr))
		})
		.collect::<Result<Vec<_>, _>>()?;
	PcrSelectionListBuilder::new()
		.with_selection(HashingAlgorithm::Sha256, &slots)
		.build()
		.map_err(tss("PCR selection"))
}

/// Whether `public` is what the chain must be able to trust as an attestation key: restricted
/// (it only signs TPM-made structures), a signing key, and unable to leave this TPM.
fn is_attestation_key(public: &Public) -> bool {
	let Public::Ecc { object_attributes, .. } = public else { return false };
	object_attributes.restricted()
		&& object_attributes.sign_encrypt()
		&& object_attributes.fixed_tpm()
		&& object_attributes.fixed_parent()
}

/// The uncompressed SEC1 point of a P-256 ECC public area.
fn p256_point(public: &Public) -> Option<[u8; 65]> {
	let Public::Ecc { unique, .. } = public else { return None };
	let (x, y) = (unique.x().value(), unique.y().value());
	if x.len() > 32 || y.len() > 32 {
		return None;
	}
	let mut point = [0u8; 65];
	point[0] = 0x04;
	point[33 - x.len()..33].copy_from_slice(x);
	point[65 - y.len()..].copy_from_slice(y);
	verifier::valid_attestation_key(&point).then_some(point)
}

/// The DER `SubjectPublicKeyInfo` of an RSA 2048 public area with exponent 65537.
fn rsa_spki(public: &Public) -> Option<Vec<u8>> {
	let Public::Rsa { unique, parameters, .. } = public else { return None };
	let modulus = unique.value();
	let exponent = parameters.exponent().value();
	if modulus.len() != 256 || modulus[0] & 0x80 == 0 || !matches!(exponent, 0 | 65_537) {
		return None;
	}
	Some([&RSA2048_SPKI_PREFIX[..], modulus, &RSA_SPKI_EXPONENT[..]].concat())
}

/// The TCG standard RSA 2048 EK public area with the modulus of `spki` (as [`rsa_spki`]
/// encodes it).
fn rsa_ek_public(spki: &[u8]) -> Result<Public, TpmError> {
	let not_rsa = TpmError::NotRsa2048("the node's registered EK");
	let modulus = spki
		.strip_prefix(&RSA2048_SPKI_PREFIX[..])
		.and_then(|rest| rest.strip_suffix(&RSA_SPKI_EXPONENT[..]))
		.filter(|m| m.len() == 256 && m[0] & 0x80 != 0)
		.ok_or(not_rsa)?;
	let template = ek::create_ek_public_from_default_template(AsymmetricAlgorithm::Rsa, None)
		.map_err(tss("the EK template"))?;
	let Public::Rsa { object_attributes, name_hashing_algorithm, auth_policy, parameters, .. } =
		template
	else {
		return Err(TpmError::NotRsa2048("the EK template"));
	};
	Ok(Public::Rsa {
		object_attributes,
		name_hashing_algorithm,
		auth_policy,
		parameters,
		unique: PublicKeyRsa::try_from(modulus.to_vec()).map_err(tss("EK modulus"))?,
	})
}

/// The EK certificate from NV, or nothing if the TPM was provisioned without one.
fn read_ek_certificate(context: &mut Context) -> Result<Vec<u8>, TpmError> {
	let (listed, _) = context
		.get_capability(CapabilityType::Handles, EK_CERT_NV_INDEX, 1)
		.map_err(tss("listing NV indices"))?;
	let present = matches!(&listed, CapabilityData::Handles(list)
		if list.iter().any(|h| u32::from(*h) == EK_CERT_NV_INDEX));
	if !present {
		return Ok(Vec::new());
	}
	// EK certificate indices are readable with their own (empty) authorization, whatever the
	// owner password; a TPM that refuses anyway just has no certificate to show.
	let read = ek::retrieve_ek_pubcert(
		context,
		tss_esapi::abstraction::AsymmetricAlgorithmSelection::Rsa(
			tss_esapi::interface_types::key_bits::RsaKeyBits::Rsa2048,
		),
	);
	Ok(read.unwrap_or_else(|error| {
		tracing::warn!(target: "tea::tpm", %error, "the EK certificate is not readable");
		Vec::new()
	}))
}

/// SHA-256 of everything `reader` yields (a runtime binary, read through the descriptor that
/// is then executed).
pub fn digest_of(mut reader: impl std::io::Read) -> std::io::Result<[u8; 32]> {
	let mut hasher = Sha256::new();
	let mut buffer = vec![0u8; 1 << 16];
	loop {
		match reader.read(&mut buffer)? {
			0 => return Ok(hasher.finalize().into()),
			n => hasher.update(&buffer[..n]),
		}
	}
}

/// The measurement of this worker build governance allowlists: the SHA-256 of the running
/// executable (`/proc/self/exe`: the file this process was executed from, even if its path
/// was replaced since).
pub fn runtime_digest() -> Result<[u8; 32], TpmError> {
	let exe = std::fs::File::open("/proc/self/exe").map_err(TpmError::Exe)?;
	digest_of(exe).map_err(TpmError::Exe)
}

/// The development boot: extends each of PCRs 0-7 of the TPM at `tcti` with its public
/// development value (`tea_primitives::evidence::dev_boot_digest`), as firmware and a boot
/// loader would with what they measured. Nothing when it is done already in this TPM cycle;
/// refused when a PCR holds anything else (the TPM booted otherwise).
pub fn dev_boot(tcti: &str) -> Result<(), TpmError> {
	use tea_primitives::evidence::{dev_boot_digest, dev_boot_value, DEV_BOOT_PCRS};
	let conf = TctiNameConf::from_str(tcti).map_err(|_| TpmError::BadTcti(tcti.into()))?;
	let mut context = Context::new(conf).map_err(tss("connecting"))?;
	let pcrs: Vec<u8> = DEV_BOOT_PCRS.collect();
	let values = read_pcrs_in(&mut context, &pcrs)?;
	if let Some((pcr, _)) =
		values.iter().find(|(pcr, value)| *value != [0; 32] && *value != dev_boot_value(*pcr))
	{
		return Err(TpmError::NotDevBoot(*pcr));
	}
	// Those still at zero (all of them, unless an earlier boot stopped half-way).
	values
		.into_iter()
		.filter(|(_, value)| *value == [0; 32])
		.try_for_each(|(pcr, _)| extend_in(&mut context, pcr, dev_boot_digest(pcr)))
}

/// `TPM2_PCR_Extend` of PCR `pcr`'s SHA-256 bank with `digest`.
fn extend_in(context: &mut Context, pcr: u8, digest: [u8; 32]) -> Result<(), TpmError> {
	let handle = PcrHandle::try_from(u32::from(pcr)).map_err(|_| TpmError::NoSuchPcr(pcr))?;
	let mut values = DigestValues::new();
	values.set(HashingAlgorithm::Sha256, Digest::try_from(digest.to_vec()).map_err(tss("digest"))?);
	context
		.execute_with_session(Some(AuthSession::Password), |c| c.pcr_extend(handle, values))
		.map_err(tss("extending a PCR"))
}

/// The SHA-256 bank values of `pcrs` (ascending), in that order.
fn read_pcrs_in(context: &mut Context, pcrs: &[u8]) -> Result<Vec<(u8, [u8; 32])>, TpmError> {
	let mut values = Vec::with_capacity(pcrs.len());
	// A TPM returns at most 8 digests per TPM2_PCR_Read.
	for chunk in pcrs.chunks(8) {
		let (_, _, digests) = context.pcr_read(selection(chunk)?).map_err(tss("reading PCRs"))?;
		if let Some(missing) = chunk.get(digests.value().len()) {
			return Err(TpmError::NoPcrBank(*missing));
		}
		for (index, digest) in chunk.iter().zip(digests.value()) {
			let value: [u8; 32] =
				digest.value().try_into().map_err(|_| TpmError::NoPcrBank(*index))?;
			values.push((*index, value));
		}
	}
	Ok(values)
}

/// The one owner of the node's TPM: a dedicated OS thread holds the [`Tpm`] (a TSS context is
/// neither shareable nor cheap to block an async executor with) and runs the jobs sent to it
/// one at a time; every extend, quote and credential goes through it. Cloneable; the thread
/// ends, and the TPM connection closes, when the last handle is dropped.
#[derive(Clone)]
pub struct TpmHandle {
	jobs: std::sync::mpsc::Sender<Message>,
	identity: std::sync::Arc<Identity>,
	thread: std::sync::Arc<std::sync::Mutex<Option<std::thread::JoinHandle<()>>>>,
}

type Job = Box<dyn FnOnce(&mut Tpm) + Send>;

enum Message {
	Job(Job),
	Close,
}

impl TpmHandle {
	/// Opens the TPM at `tcti` ([`Tpm::open`]) on its own thread.
	pub fn open(tcti: &str) -> Result<Self, TpmError> {
		Ok(Self::open_with_log(tcti, None)?.0)
	}

	/// Opens the TPM at `tcti` on its own thread, with the event log at `log.0` for log PCR
	/// `log.1` ([`Tpm::open_log`]): what the log found comes back with the handle.
	pub fn open_with_log(
		tcti: &str,
		log: Option<(std::path::PathBuf, u8)>,
	) -> Result<(Self, Option<Opened>), TpmError> {
		let (jobs, queue) = std::sync::mpsc::channel::<Message>();
		let (opened, identity) = std::sync::mpsc::channel();
		let tcti = tcti.to_string();
		let thread = std::thread::Builder::new()
			.name("tpm".into())
			.spawn(move || {
				let open = || {
					let mut tpm = Tpm::open(&tcti)?;
					let found = match &log {
						Some((path, pcr)) => Some(tpm.open_log(path, *pcr)?),
						None => None,
					};
					Ok::<_, TpmError>((tpm, found))
				};
				let mut tpm = match open() {
					Ok((tpm, found)) => {
						let _ = opened.send(Ok((tpm.identity().clone(), found)));
						tpm
					}
					Err(e) => {
						let _ = opened.send(Err(e));
						return;
					}
				};
				while let Ok(Message::Job(job)) = queue.recv() {
					job(&mut tpm);
				}
				// Closing the context ends the TPM session cleanly.
				drop(tpm);
			})
			.map_err(TpmError::Exe)?;
		let (identity, found) = identity.recv().map_err(|_| TpmError::Gone)??;
		let handle = Self {
			jobs,
			identity: std::sync::Arc::new(identity),
			thread: std::sync::Arc::new(std::sync::Mutex::new(Some(thread))),
		};
		Ok((handle, found))
	}

	/// Lets the jobs already sent finish, then closes the TPM connection and waits for the
	/// thread (blocking). Jobs sent afterwards fail with [`TpmError::Gone`].
	pub fn close(&self) {
		let _ = self.jobs.send(Message::Close);
		if let Some(thread) = self.thread.lock().expect("not poisoned").take() {
			let _ = thread.join();
		}
	}

	/// The node's identity (read once when the TPM was opened).
	pub fn identity(&self) -> &Identity {
		&self.identity
	}

	/// Runs `job` on the TPM thread and waits for its result without blocking the executor.
	pub async fn run<R: Send + 'static>(
		&self,
		job: impl FnOnce(&mut Tpm) -> Result<R, TpmError> + Send + 'static,
	) -> Result<R, TpmError> {
		let (tx, rx) = tokio::sync::oneshot::channel();
		let started = std::time::Instant::now();
		self.jobs
			.send(Message::Job(Box::new(move |tpm| {
				let _ = tx.send(job(tpm));
			})))
			.map_err(|_| TpmError::Gone)?;
		let result = rx.await.map_err(|_| TpmError::Gone)?;
		crate::metrics::tpm_latency(started.elapsed());
		result
	}

	/// Runs `job` on the TPM thread and blocks this thread until it is done (for callers that
	/// are not async, such as the mini-runtime compiling on a blocking thread).
	pub fn run_blocking<R: Send + 'static>(
		&self,
		job: impl FnOnce(&mut Tpm) -> Result<R, TpmError> + Send + 'static,
	) -> Result<R, TpmError> {
		futures::executor::block_on(self.run(job))
	}
}

/// The mini-runtime measures every actor release through the TPM owner before it compiles it.
impl crate::runtime::Measure for TpmHandle {
	fn measure(&self, kind: EventKind, data: &[u8]) -> Result<(), String> {
		let data = data.to_vec();
		self.run_blocking(move |tpm| tpm.measure(kind, &data))
			.map(|_| ())
			.map_err(|e| e.to_string())
	}
}
