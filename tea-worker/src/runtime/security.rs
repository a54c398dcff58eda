//! Security events: refused host calls and refused actors, logged on the `tea::security`
//! tracing target, kept (the latest [`KEPT`]), and counted per release until the node duty
//! reports the counts on chain (`actors.reportRefusals`, [`SecurityLog::take_counts`]).

use crate::grants::Refusal;
use std::{
	collections::{HashMap, VecDeque},
	sync::{Arc, Mutex},
	time::SystemTime,
};
use tea_primitives::{code::CodeRejection, ContentId, RefusalCounts};

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

impl SecurityEventKind {
	/// Its `refusals_total` label.
	pub fn label(&self) -> &'static str {
		match self {
			Self::Refused { refusal: Refusal::NotGranted, .. } => "host_not_granted",
			Self::Refused { refusal: Refusal::Expired, .. } => "host_expired",
			Self::Refused { refusal: Refusal::Revoked, .. } => "host_revoked",
			Self::Refused { refusal: Refusal::BudgetExceeded, .. } => "host_budget_exceeded",
			Self::TamperedBytes => "tampered_bytes",
			Self::InvalidActor(_) | Self::UnknownImport { .. } => "unloadable",
		}
	}

	/// The event as one count of the chain's refusal report.
	pub fn counts(&self) -> RefusalCounts {
		let mut counts = RefusalCounts::default();
		let slot = match self {
			Self::Refused { refusal: Refusal::NotGranted, .. } => &mut counts.not_granted,
			Self::Refused { refusal: Refusal::Expired, .. } => &mut counts.expired,
			Self::Refused { refusal: Refusal::Revoked, .. } => &mut counts.revoked,
			Self::Refused { refusal: Refusal::BudgetExceeded, .. } => &mut counts.budget_exceeded,
			Self::TamperedBytes => &mut counts.tampered,
			Self::InvalidActor(_) | Self::UnknownImport { .. } => &mut counts.unloadable,
		};
		*slot = 1;
		counts
	}
}

/// A bounded, shared log of security events.
#[derive(Clone, Default)]
pub struct SecurityLog {
	events: Arc<Mutex<VecDeque<SecurityEvent>>>,
	/// Counts per release not reported yet (one entry per release that loaded or was tried:
	/// bounded by the releases the chain approved).
	counts: Arc<Mutex<HashMap<ContentId, RefusalCounts>>>,
	/// The kinds of event logged per release since the last report (an actor looping on a
	/// refused call is logged once, counted every time).
	logged: Arc<Mutex<std::collections::HashSet<(ContentId, &'static str)>>>,
}

impl SecurityLog {
	/// Records and logs an event.
	pub fn record(&self, actor: &str, cid: &ContentId, kind: SecurityEventKind) {
		crate::metrics::refusal(kind.label());
		let first = self
			.logged
			.lock()
			.unwrap_or_else(|e| e.into_inner())
			.insert((cid.clone(), kind.label()));
		if first {
			tracing::warn!(target: "tea::security", actor, cid = %cid.to_text(), "{kind:?} (more of this kind are counted, not logged, until the next report)");
		} else {
			tracing::debug!(target: "tea::security", actor, cid = %cid.to_text(), "{kind:?}");
		}
		self.counts
			.lock()
			.unwrap_or_else(|e| e.into_inner())
			.entry(cid.clone())
			.or_default()
			.add(&kind.counts());
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

	/// Takes the counts of at most `max` releases (the most refused first) for a report; the
	/// others stay for the next one.
	pub fn take_counts(&self, max: usize) -> Vec<(ContentId, RefusalCounts)> {
		let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
		let total = |c: &RefusalCounts| {
			[c.not_granted, c.expired, c.revoked, c.budget_exceeded, c.tampered, c.unloadable]
				.iter()
				.map(|n| u64::from(*n))
				.sum::<u64>()
		};
		let mut all: Vec<_> = counts.iter().map(|(cid, c)| (cid.clone(), *c)).collect();
		all.sort_by(|a, b| total(&b.1).cmp(&total(&a.1)).then_with(|| a.0.cmp(&b.0)));
		all.truncate(max);
		for (cid, _) in &all {
			counts.remove(cid);
		}
		let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
		logged.retain(|(cid, _)| counts.contains_key(cid));
		all
	}

	/// Puts back counts that were taken but not reported (the report failed).
	pub fn restore(&self, taken: &[(ContentId, RefusalCounts)]) {
		let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
		for (cid, c) in taken {
			counts.entry(cid.clone()).or_default().add(c);
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn counts_are_taken_most_refused_first_and_restored_after_a_failed_report() {
		let log = SecurityLog::default();
		let (a, b, c) = (ContentId::of(b"a"), ContentId::of(b"b"), ContentId::of(b"c"));
		let refused = |refusal| SecurityEventKind::Refused {
			provider: "tea:log".into(),
			operation: "write".into(),
			refusal,
		};
		for _ in 0..3 {
			log.record("a", &a, refused(Refusal::Revoked));
		}
		log.record("a", &a, refused(Refusal::NotGranted));
		log.record("b", &b, SecurityEventKind::TamperedBytes);
		log.record(
			"c",
			&c,
			SecurityEventKind::UnknownImport { module: "m".into(), field: "f".into() },
		);
		log.record("c", &c, refused(Refusal::BudgetExceeded));
		let taken = log.take_counts(2);
		assert_eq!(taken.len(), 2);
		assert_eq!(
			taken[0],
			(a.clone(), RefusalCounts { revoked: 3, not_granted: 1, ..Default::default() })
		);
		assert_eq!(
			taken[1].1,
			RefusalCounts { unloadable: 1, budget_exceeded: 1, ..Default::default() }
		);
		assert_eq!(
			log.take_counts(8),
			vec![(b.clone(), RefusalCounts { tampered: 1, ..Default::default() })]
		);
		assert!(log.take_counts(8).is_empty(), "taken once");
		// A failed report puts them back, added to what came since.
		log.record("a", &a, refused(Refusal::Expired));
		log.restore(&taken[..1]);
		assert_eq!(
			log.take_counts(8),
			vec![(
				a,
				RefusalCounts { revoked: 3, not_granted: 1, expired: 1, ..Default::default() }
			)]
		);
		assert_eq!(log.events().len(), 8, "the events themselves stay kept");
	}
}
