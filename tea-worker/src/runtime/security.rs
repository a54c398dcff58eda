//! Security events: refused host calls and refused actors, kept for the chain client to report
//! as evidence, and logged on the `tea::security` tracing target.

use crate::grants::Refusal;
use std::{
	collections::VecDeque,
	sync::{Arc, Mutex},
	time::SystemTime,
};
use tea_primitives::{code::CodeRejection, ContentId};

/// Events kept in memory (the oldest are dropped first).
const KEPT: usize = 4096;

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecurityEventKind {
	/// A host call was refused.
	Refused {
		/// Provider called.
		provider: String,
		/// Operation called.
		operation: String,
		/// Why it was refused.
		refusal: Refusal,
	},
	/// Stored or fetched bytes did not hash to the release's CID.
	TamperedBytes,
	/// The module is not an ABI v1 actor.
	InvalidActor(CodeRejection),
	/// The module imports a provider operation this worker does not offer.
	UnknownImport {
		/// Import module.
		module: String,
		/// Import field.
		field: String,
	},
}

/// One security event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityEvent {
	/// Actor name of the release.
	pub actor: String,
	/// CID of the release.
	pub cid: ContentId,
	/// What happened.
	pub kind: SecurityEventKind,
	/// When.
	pub at: SystemTime,
}

/// A bounded, shared log of security events.
#[derive(Clone, Default)]
pub struct SecurityLog {
	events: Arc<Mutex<VecDeque<SecurityEvent>>>,
}

impl SecurityLog {
	/// Records and logs an event.
	pub fn record(&self, actor: &str, cid: &ContentId, kind: SecurityEventKind) {
		tracing::warn!(target: "tea::security", actor, cid = %cid.to_text(), "{kind:?}");
		let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
		if events.len() == KEPT {
			events.pop_front();
		}
		events.push_back(SecurityEvent {
			actor: actor.to_owned(),
			cid: cid.clone(),
			kind,
			at: SystemTime::now(),
		});
	}

	/// All kept events, oldest first.
	pub fn events(&self) -> Vec<SecurityEvent> {
		self.events.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
	}
}
