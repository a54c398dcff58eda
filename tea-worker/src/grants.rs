//! Which releases may run and what each may do: the worker's view of the chain's registry.
//!
//! The mini-runtime asks a [`GrantSource`] before it loads a CID and on every host call. The
//! chain-backed source follows `pallet-tea-actors` (approved/active releases, revocations); the
//! [`LocalGrants`] here is filled from developer-signed manifests (checked exactly as the pallet
//! checks them) and serves tests and `tea-worker actor run`.

use serde::{Deserialize, Serialize};
use sp_core::{crypto::Ss58Codec, sr25519, Pair};
use sp_runtime::{AccountId32, MultiSignature};
use std::{collections::HashMap, sync::RwLock};
use tea_primitives::{
	manifest::{Grant, Limits, Manifest, Name},
	ContentId,
};

/// The manifest type of the TEA chain (block numbers are `u32`).
pub type ChainManifest = Manifest<AccountId32, u32>;

/// One grant of a release and whether it was revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantState {
	/// The grant as signed.
	pub grant: Grant<u32>,
	/// Revoked on chain.
	pub revoked: bool,
}

/// A release the worker may run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovedRelease {
	/// Actor name (its key-value namespace and message address).
	pub actor: String,
	/// Release version.
	pub version: u32,
	/// CID of its Wasm.
	pub cid: ContentId,
	/// Its grants.
	pub grants: Vec<GrantState>,
}

/// Why a host call is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
	/// No grant names this provider operation.
	NotGranted,
	/// The grant exists but expired.
	Expired,
	/// The grant exists but was revoked.
	Revoked,
	/// The grant's per-call fuel budget is exhausted.
	BudgetExceeded,
}

impl ApprovedRelease {
	/// The grant under which `provider/operation` may be called at `block`, or why not.
	pub fn grant_for(
		&self,
		provider: &str,
		operation: &str,
		block: u32,
	) -> Result<&Grant<u32>, Refusal> {
		let mut refusal = Refusal::NotGranted;
		for state in &self.grants {
			let g = &state.grant;
			let names_it = g.provider.as_slice() == provider.as_bytes()
				&& g.operations.iter().any(|op| op.as_slice() == operation.as_bytes());
			if !names_it {
				continue;
			}
			if state.revoked {
				refusal = Refusal::Revoked;
			} else if !g.allows(provider.as_bytes(), operation.as_bytes(), block) {
				refusal = Refusal::Expired;
			} else {
				return Ok(g);
			}
		}
		Err(refusal)
	}

	/// Resource limits of one invocation: the largest budgets among the live grants, or
	/// `default` for an actor without grants.
	pub fn invocation_limits(&self, default: Limits) -> Limits {
		self.grants
			.iter()
			.filter(|s| !s.revoked)
			.map(|s| s.grant.limits)
			.fold(None::<Limits>, |acc, l| {
				Some(match acc {
					None => l,
					Some(a) => Limits {
						max_memory_pages: a.max_memory_pages.max(l.max_memory_pages),
						max_fuel_per_call: a.max_fuel_per_call.max(l.max_fuel_per_call),
					},
				})
			})
			.unwrap_or(default)
	}
}

/// The worker's source of truth about releases and grants.
pub trait GrantSource: Send + Sync {
	/// The approved release with this CID, if it may run.
	fn release(&self, cid: &ContentId) -> Option<ApprovedRelease>;
	/// The CID of the active release of `actor` (for `tea:message`).
	fn active(&self, actor: &str) -> Option<ContentId>;
	/// The chain's current block number (for grant expiry).
	fn current_block(&self) -> u32;
}

/// Errors of signed manifests.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
	/// The JSON is not a (signed) manifest.
	#[error("malformed manifest: {0}")]
	Malformed(String),
	/// A field is invalid.
	#[error("invalid manifest field {field}: {reason}")]
	Field {
		/// Which field.
		field: &'static str,
		/// Why.
		reason: String,
	},
	/// The signature does not verify with the developer's key.
	#[error("the manifest signature does not verify with the developer's key {0}")]
	BadSignature(String),
	/// The developer key could not be read.
	#[error("bad developer key: {0}")]
	BadKey(String),
}

/// A grant in JSON.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantJson {
	/// Provider, e.g. `tea:keyvalue`.
	pub provider: String,
	/// Operations, e.g. `["get"]`.
	pub operations: Vec<String>,
	/// Budgets.
	pub limits: Limits,
	/// Last valid block, if any.
	#[serde(default)]
	pub expires_at: Option<u32>,
}

/// A manifest in JSON, as developers write it (`developer` is filled in by `actor sign`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestJson {
	/// SS58 address of the developer (optional before signing).
	#[serde(default, skip_serializing_if = "Option::is_none")]
	pub developer: Option<String>,
	/// Actor name.
	pub actor: String,
	/// Release version.
	pub version: u32,
	/// CID text of the Wasm.
	pub cid: String,
	/// Grants.
	#[serde(default)]
	pub grants: Vec<GrantJson>,
}

/// A manifest with the developer's signature, the file `actor sign` writes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignedManifestJson {
	/// The manifest (with `developer`).
	pub manifest: ManifestJson,
	/// `0x`-hex sr25519 signature over `tea/manifest/v1 ++ SCALE(manifest)`.
	pub signature: String,
}

fn name(field: &'static str, text: &str) -> Result<Name, ManifestError> {
	Name::try_from(text.as_bytes().to_vec()).map_err(|_| ManifestError::Field {
		field,
		reason: format!("{text:?} is longer than 64 bytes"),
	})
}

impl ManifestJson {
	/// The chain manifest, with `developer` as its developer.
	pub fn to_manifest(&self, developer: AccountId32) -> Result<ChainManifest, ManifestError> {
		let cid = ContentId::parse(&self.cid)
			.map_err(|e| ManifestError::Field { field: "cid", reason: e.to_string() })?;
		let grants = self
			.grants
			.iter()
			.map(|g| {
				let operations = g
					.operations
					.iter()
					.map(|op| name("operations", op))
					.collect::<Result<Vec<_>, _>>()?
					.try_into()
					.map_err(|_| ManifestError::Field {
						field: "operations",
						reason: "more than 16".into(),
					})?;
				Ok(Grant {
					provider: name("provider", &g.provider)?,
					operations,
					limits: g.limits,
					expires_at: g.expires_at,
				})
			})
			.collect::<Result<Vec<_>, ManifestError>>()?
			.try_into()
			.map_err(|_| ManifestError::Field { field: "grants", reason: "more than 16".into() })?;
		Ok(Manifest {
			developer,
			actor: name("actor", &self.actor)?,
			version: self.version,
			cid,
			grants,
		})
	}

	/// Signs this manifest with the developer key `suri` (e.g. `//Alice` or a mnemonic).
	pub fn sign(&self, suri: &str) -> Result<SignedManifestJson, ManifestError> {
		let pair = sr25519::Pair::from_string(suri, None)
			.map_err(|e| ManifestError::BadKey(format!("{e:?}")))?;
		let developer = AccountId32::from(pair.public());
		let manifest = self.to_manifest(developer.clone())?;
		let MultiSignature::Sr25519(signature) = manifest.sign(&pair) else {
			unreachable!("an sr25519 pair signs with sr25519")
		};
		let mut json = self.clone();
		json.developer = Some(developer.to_ss58check());
		Ok(SignedManifestJson {
			manifest: json,
			signature: format!("0x{}", hex::encode(signature.0)),
		})
	}
}

impl SignedManifestJson {
	/// Parses JSON text.
	pub fn from_json(text: &str) -> Result<Self, ManifestError> {
		serde_json::from_str(text).map_err(|e| ManifestError::Malformed(e.to_string()))
	}

	/// The manifest and signature after checking the signature, exactly as the pallet does.
	pub fn verify(&self) -> Result<(ChainManifest, MultiSignature), ManifestError> {
		let developer = self.manifest.developer.as_deref().ok_or(ManifestError::Field {
			field: "developer",
			reason: "missing: sign the manifest with `tea-worker actor sign`".into(),
		})?;
		let developer = AccountId32::from_ss58check(developer)
			.map_err(|e| ManifestError::Field { field: "developer", reason: format!("{e:?}") })?;
		let raw = crate::unhex0x(&self.signature)
			.map_err(|e| ManifestError::Field { field: "signature", reason: e.to_string() })?;
		let raw: [u8; 64] = raw.try_into().map_err(|_| ManifestError::Field {
			field: "signature",
			reason: "an sr25519 signature is 64 bytes".into(),
		})?;
		let signature = MultiSignature::Sr25519(sr25519::Signature::from_raw(raw));
		let manifest = self.manifest.to_manifest(developer.clone())?;
		if !manifest.verify(&signature) {
			return Err(ManifestError::BadSignature(developer.to_ss58check()));
		}
		Ok((manifest, signature))
	}
}

#[derive(Default)]
struct LocalState {
	releases: HashMap<ContentId, ApprovedRelease>,
	active: HashMap<String, ContentId>,
	block: u32,
}

/// Grants held in memory, from verified signed manifests (tests, local development).
#[derive(Default)]
pub struct LocalGrants {
	state: RwLock<LocalState>,
}

impl LocalGrants {
	/// An empty set at block 0.
	pub fn new() -> Self {
		Self::default()
	}

	/// Replaces everything: the runnable releases, the active release of each actor, the block.
	pub fn replace_all(
		&self,
		releases: Vec<ApprovedRelease>,
		active: HashMap<String, ContentId>,
		block: u32,
	) {
		let releases = releases.into_iter().map(|r| (r.cid.clone(), r)).collect();
		*self.state.write().unwrap_or_else(|e| e.into_inner()) =
			LocalState { releases, active, block };
	}

	/// The release `cid` names, or with `actor` the release that actor runs here (and its
	/// CID), together with the current block: one read, so the block is the one the release
	/// was resolved at.
	pub fn resolve(
		&self,
		actor: Option<&str>,
		cid: Option<&ContentId>,
	) -> (Option<ContentId>, Option<ApprovedRelease>, u32) {
		let state = self.state.read().unwrap_or_else(|e| e.into_inner());
		let cid = match actor {
			Some(actor) => state.active.get(actor).cloned(),
			None => cid.cloned(),
		};
		let release = cid.as_ref().and_then(|cid| state.releases.get(cid).cloned());
		(cid, release, state.block)
	}

	/// The releases that may run.
	pub fn releases(&self) -> Vec<ApprovedRelease> {
		self.state.read().unwrap_or_else(|e| e.into_inner()).releases.values().cloned().collect()
	}

	/// Approves (and activates) the release of a verified manifest.
	pub fn approve(&self, manifest: &ChainManifest) -> ApprovedRelease {
		let release = ApprovedRelease {
			actor: String::from_utf8_lossy(&manifest.actor).into_owned(),
			version: manifest.version,
			cid: manifest.cid.clone(),
			grants: manifest
				.grants
				.iter()
				.map(|g| GrantState { grant: g.clone(), revoked: false })
				.collect(),
		};
		let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
		state.active.insert(release.actor.clone(), release.cid.clone());
		state.releases.insert(release.cid.clone(), release.clone());
		release
	}

	/// Verifies a signed manifest and approves it.
	pub fn approve_signed(
		&self,
		signed: &SignedManifestJson,
	) -> Result<ApprovedRelease, ManifestError> {
		let (manifest, _) = signed.verify()?;
		Ok(self.approve(&manifest))
	}

	/// Revokes the grant for `provider` of the release `cid`.
	pub fn revoke_grant(&self, cid: &ContentId, provider: &str) {
		let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
		if let Some(release) = state.releases.get_mut(cid) {
			for g in &mut release.grants {
				if g.grant.provider.as_slice() == provider.as_bytes() {
					g.revoked = true;
				}
			}
		}
	}

	/// Revokes the release `cid`: it no longer loads.
	pub fn revoke_release(&self, cid: &ContentId) {
		let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
		if let Some(release) = state.releases.remove(cid) {
			if state.active.get(&release.actor) == Some(cid) {
				state.active.remove(&release.actor);
			}
		}
	}

	/// Sets the current block.
	pub fn set_block(&self, block: u32) {
		self.state.write().unwrap_or_else(|e| e.into_inner()).block = block;
	}
}

impl GrantSource for LocalGrants {
	fn release(&self, cid: &ContentId) -> Option<ApprovedRelease> {
		self.state.read().unwrap_or_else(|e| e.into_inner()).releases.get(cid).cloned()
	}

	fn active(&self, actor: &str) -> Option<ContentId> {
		self.state.read().unwrap_or_else(|e| e.into_inner()).active.get(actor).cloned()
	}

	fn current_block(&self) -> u32 {
		self.state.read().unwrap_or_else(|e| e.into_inner()).block
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn manifest_json() -> ManifestJson {
		ManifestJson {
			developer: None,
			actor: "counter".into(),
			version: 1,
			cid: ContentId::of(b"code").to_text(),
			grants: vec![GrantJson {
				provider: "tea:keyvalue".into(),
				operations: vec!["get".into()],
				limits: Limits { max_memory_pages: 4, max_fuel_per_call: 1000 },
				expires_at: Some(10),
			}],
		}
	}

	#[test]
	fn signed_manifests_verify_and_tampering_is_caught() {
		let signed = manifest_json().sign("//Alice").unwrap();
		let (manifest, _) = signed.verify().unwrap();
		assert_eq!(manifest.developer, sp_keyring::Sr25519Keyring::Alice.to_account_id());
		let text = serde_json::to_string(&signed).unwrap();
		assert_eq!(SignedManifestJson::from_json(&text).unwrap(), signed);

		let mut more_ops = signed.clone();
		more_ops.manifest.grants[0].operations.push("put".into());
		assert!(matches!(more_ops.verify(), Err(ManifestError::BadSignature(_))));
		let mut other_dev = signed.clone();
		other_dev.manifest.developer =
			Some(sp_keyring::Sr25519Keyring::Bob.to_account_id().to_ss58check());
		assert!(matches!(other_dev.verify(), Err(ManifestError::BadSignature(_))));
		let mut short_sig = signed.clone();
		short_sig.signature = "0x1234".into();
		assert!(matches!(short_sig.verify(), Err(ManifestError::Field { field: "signature", .. })));
		assert!(matches!(
			SignedManifestJson::from_json(r#"{"manifest": 1}"#),
			Err(ManifestError::Malformed(_))
		));
		let mut bad_cid = manifest_json();
		bad_cid.cid = "QmNotV1".into();
		assert!(matches!(bad_cid.sign("//Alice"), Err(ManifestError::Field { field: "cid", .. })));
		assert!(matches!(manifest_json().sign("not a key"), Err(ManifestError::BadKey(_))));
	}

	#[test]
	fn grants_are_checked_per_operation_with_expiry_and_revocation() {
		let grants = LocalGrants::new();
		let (manifest, _) = manifest_json().sign("//Alice").unwrap().verify().unwrap();
		let release = grants.approve(&manifest);
		assert!(release.grant_for("tea:keyvalue", "get", 10).is_ok());
		assert_eq!(release.grant_for("tea:keyvalue", "put", 10), Err(Refusal::NotGranted));
		assert_eq!(release.grant_for("tea:keyvalue", "get", 11), Err(Refusal::Expired));
		assert_eq!(release.grant_for("tea:log", "write", 1), Err(Refusal::NotGranted));
		grants.revoke_grant(&release.cid, "tea:keyvalue");
		let revoked = grants.release(&release.cid).unwrap();
		assert_eq!(revoked.grant_for("tea:keyvalue", "get", 1), Err(Refusal::Revoked));
		assert_eq!(grants.active("counter"), Some(release.cid.clone()));
		grants.revoke_release(&release.cid);
		assert!(grants.release(&release.cid).is_none());
		assert!(grants.active("counter").is_none());
	}
}
