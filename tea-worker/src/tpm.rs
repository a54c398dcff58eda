//! The worker's TPM: identity, measurement and quotes, through tss-esapi against a real TPM or
//! swtpm (`swtpm:host=127.0.0.1,port=2321`, `device:/dev/tpmrm0`, any TCTI string).
//!
//! - **Identity.** The endorsement key is the TCG standard ECC P-256 EK (re-derived from the
//!   TPM's endorsement seed, so it is the same every time). The attestation key is a restricted
//!   P-256 ECDSA/SHA-256 signing key created under the EK and made persistent at
//!   [`AK_HANDLE`], so the same AK survives restarts. The node id is `blake2_256` of the EK's
//!   DER `SubjectPublicKeyInfo`, as `pallet-tea-nodes` computes it.
//! - **Measurement.** While PCR 16 is still zero after a TPM reset, the worker extends it with
//!   the SHA-256 of its own executable: the mini-runtime that will run the actors. The
//!   *measurement* the chain allowlists is `tea_primitives::tpm::pcr_digest` of the quoted PCRs
//!   ([`expected_measurement`] computes it without a TPM for governance).
//! - **Quotes.** `TPM2_Quote` over [`QUOTED_PCRS`] with the chain's challenge as qualifying data;
//!   the worker verifies its own quote with the runtime's verifier
//!   (`tea_primitives::tpm::verify_quote`) before anyone submits it.
//!
//! swtpm has three transient object slots and no resource manager: every transient object is
//! flushed as soon as it is no longer needed.

use sha2::{Digest as _, Sha256};
use std::str::FromStr;
use tea_primitives::tpm as verifier;
use tss_esapi::{
	abstraction::{ak, ek},
	constants::CapabilityType,
	handles::{KeyHandle, ObjectHandle, PcrHandle, PersistentTpmHandle, TpmHandle},
	interface_types::{
		algorithm::{AsymmetricAlgorithm, HashingAlgorithm, SignatureSchemeAlgorithm},
		dynamic_handles::Persistent,
		resource_handles::Provision,
		session_handles::AuthSession,
	},
	structures::{
		CapabilityData, Data, Digest, DigestValues, PcrSelectionListBuilder, PcrSlot, Public,
		SignatureScheme,
	},
	traits::Marshall,
	Context, TctiNameConf,
};

/// The persistent handle of the worker's attestation key (endorsement range).
pub const AK_HANDLE: u32 = 0x8101_0010;
/// The PCR the worker measures itself into (a debug PCR: a production deployment measures the
/// worker from the boot chain into a PCR software cannot reset).
pub const MEASURED_PCR: u8 = 16;
/// The PCRs a quote covers.
pub const QUOTED_PCRS: [u8; 1] = [MEASURED_PCR];

/// DER prefix of a P-256 `SubjectPublicKeyInfo` (id-ecPublicKey, prime256v1), before the
/// uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
	0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

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
	/// The TPM's own quote does not verify: the TPM or this worker is broken.
	#[error("TPM: own quote does not verify: {0:?}")]
	OwnQuote(verifier::QuoteError),
	/// The object at the AK handle is not a restricted, TPM-bound signing key.
	#[error("TPM: the key at {0:#x} is not a restricted signing key fixed to this TPM")]
	NotAnAttestationKey(u32),
	/// The TPM has no SHA-256 PCR bank.
	#[error("TPM: no SHA-256 value for PCR 16")]
	NoPcrBank,
	/// The nonce is longer than a TPM accepts.
	#[error("nonce of {0} bytes: at most 64")]
	Nonce(usize),
	/// The worker's executable could not be read.
	#[error("cannot read own executable: {0}")]
	Exe(std::io::Error),
}

fn tss(context: &'static str) -> impl FnOnce(tss_esapi::Error) -> TpmError {
	move |source| TpmError::Tss { context, source }
}

/// The node's TPM identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
	/// The EK public key, DER `SubjectPublicKeyInfo`.
	pub ek_public: Vec<u8>,
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
}

/// A connection to the TPM with the worker's keys loaded.
pub struct Tpm {
	context: Context,
	ak: KeyHandle,
	identity: Identity,
}

impl Tpm {
	/// Connects to the TPM at `tcti`, creates the attestation key on first use, and measures
	/// this worker into PCR 16 if nothing did since the TPM was reset.
	pub fn open(tcti: &str) -> Result<Self, TpmError> {
		let conf = TctiNameConf::from_str(tcti).map_err(|_| TpmError::BadTcti(tcti.into()))?;
		let mut context = Context::new(conf).map_err(tss("connecting"))?;
		let ek = ek::create_ek_object(&mut context, AsymmetricAlgorithm::Ecc, None)
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
		let ek_point = p256_point(&ek_public).ok_or(TpmError::NotP256("the EK"))?;
		let attestation_key = p256_point(&ak_public).ok_or(TpmError::NotP256("the AK"))?;
		if !is_attestation_key(&ak_public) {
			return Err(TpmError::NotAnAttestationKey(AK_HANDLE));
		}
		let ek_public = [&P256_SPKI_PREFIX[..], &ek_point[..]].concat();
		let node_id = pallet_tea_nodes::node_id(&ek_public).0;
		let mut tpm =
			Self { context, ak, identity: Identity { ek_public, attestation_key, node_id } };
		tpm.measure_self()?;
		Ok(tpm)
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
				.tr_from_tpm_public(TpmHandle::Persistent(handle))
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

	/// Extends PCR 16 with the SHA-256 of this executable if it is still zero.
	fn measure_self(&mut self) -> Result<(), TpmError> {
		if self.read_pcrs()?.first().is_some_and(|(_, value)| *value != [0u8; 32]) {
			return Ok(());
		}
		self.extend(executable_digest()?)
	}

	/// Extends the measured PCR (16) with `digest`: what a later stage of the worker measures.
	pub fn extend(&mut self, digest: [u8; 32]) -> Result<(), TpmError> {
		let mut values = DigestValues::new();
		values.set(
			HashingAlgorithm::Sha256,
			Digest::try_from(digest.to_vec()).map_err(tss("digest"))?,
		);
		self.context
			.execute_with_session(Some(AuthSession::Password), |c| {
				c.pcr_extend(PcrHandle::Pcr16, values)
			})
			.map_err(tss("extending PCR 16"))
	}

	/// The SHA-256 bank values of [`QUOTED_PCRS`].
	pub fn read_pcrs(&mut self) -> Result<Vec<(u8, [u8; 32])>, TpmError> {
		let selection = quoted_selection()?;
		let (_, _, digests) = self.context.pcr_read(selection).map_err(tss("reading PCRs"))?;
		if digests.value().len() != QUOTED_PCRS.len() {
			return Err(TpmError::NoPcrBank);
		}
		QUOTED_PCRS
			.iter()
			.zip(digests.value())
			.map(|(index, digest)| {
				let value: [u8; 32] = digest.value().try_into().map_err(|_| TpmError::NoPcrBank)?;
				Ok((*index, value))
			})
			.collect()
	}

	/// Quotes [`QUOTED_PCRS`] with `nonce` (the chain's challenge) and checks the quote with the
	/// runtime's verifier.
	pub fn quote(&mut self, nonce: &[u8]) -> Result<Quote, TpmError> {
		if nonce.len() > 64 {
			return Err(TpmError::Nonce(nonce.len()));
		}
		let selection = quoted_selection()?;
		let data = Data::try_from(nonce.to_vec()).map_err(tss("nonce"))?;
		let ak = self.ak;
		let (attest, signature) = self
			.context
			.execute_with_nullauth_session(|c| c.quote(ak, data, SignatureScheme::Null, selection))
			.map_err(tss("quoting"))?;
		let attest = attest.marshall().map_err(tss("marshalling the quote"))?;
		let signature = signature.marshall().map_err(tss("marshalling the signature"))?;
		let pcrs = self.read_pcrs()?;
		let info = verifier::verify_quote(
			&self.identity.attestation_key,
			&attest,
			&signature,
			nonce,
			&pcrs,
		)
		.map_err(TpmError::OwnQuote)?;
		Ok(Quote { attest, signature, pcrs, measurement: info.pcr_digest })
	}
}

impl Drop for Tpm {
	fn drop(&mut self) {
		// The AK is persistent: release the ESYS reference, keep the key.
		let mut object: ObjectHandle = self.ak.into();
		let _ = self.context.tr_close(&mut object);
	}
}

/// The SHA-256 bank selection of [`QUOTED_PCRS`].
fn quoted_selection() -> Result<tss_esapi::structures::PcrSelectionList, TpmError> {
	PcrSelectionListBuilder::new()
		.with_selection(HashingAlgorithm::Sha256, &[PcrSlot::Slot16])
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

/// SHA-256 of this worker's executable.
pub fn executable_digest() -> Result<[u8; 32], TpmError> {
	let exe = std::env::current_exe().map_err(TpmError::Exe)?;
	let bytes = std::fs::read(exe).map_err(TpmError::Exe)?;
	Ok(Sha256::digest(bytes).into())
}

/// The measurement a TPM reports after this worker measured itself, computed without a TPM:
/// the value governance allowlists for this build.
pub fn expected_measurement() -> Result<[u8; 32], TpmError> {
	let mut pcr = Sha256::new();
	pcr.update([0u8; 32]);
	pcr.update(executable_digest()?);
	Ok(verifier::pcr_digest(&[(MEASURED_PCR, pcr.finalize().into())]))
}
