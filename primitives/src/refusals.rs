//! Refusals a worker reports on chain against a release: what the mini-runtime refused while
//! running it, so that DAO members see misbehaving actors (and the workers that saw them).
//!
//! A report is the claim of one registered node's operator, not a proof: the chain bounds how
//! often a node may report and shows who reported what, and nothing is slashed on a report.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

/// The most of each kind one report adds to a release's tally (more are counted as this many):
/// one node cannot move a tally by more than this per report interval.
pub const MAX_REFUSALS_PER_REPORT: u32 = 10_000;

/// Refusals seen while running one release, by kind.
#[derive(
	Clone,
	Copy,
	Default,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub struct RefusalCounts {
	/// Host calls refused because no grant names the operation.
	pub not_granted: u32,
	/// Host calls refused because their grant expired.
	pub expired: u32,
	/// Host calls refused because their grant was revoked.
	pub revoked: u32,
	/// Host calls refused because the grant's fuel budget was spent.
	pub budget_exceeded: u32,
	/// The release's bytes, stored or served by a peer, did not hash to its CID.
	pub tampered: u32,
	/// The worker refused to load the code (not a valid actor, or an import it does not offer).
	pub unloadable: u32,
}

impl RefusalCounts {
	/// Nothing counted.
	pub fn is_empty(&self) -> bool {
		*self == Self::default()
	}

	/// Each count at most `max`.
	pub fn capped(&self, max: u32) -> Self {
		Self {
			not_granted: self.not_granted.min(max),
			expired: self.expired.min(max),
			revoked: self.revoked.min(max),
			budget_exceeded: self.budget_exceeded.min(max),
			tampered: self.tampered.min(max),
			unloadable: self.unloadable.min(max),
		}
	}

	/// Adds `other`, each count saturating at `u32::MAX`.
	pub fn add(&mut self, other: &Self) {
		self.not_granted = self.not_granted.saturating_add(other.not_granted);
		self.expired = self.expired.saturating_add(other.expired);
		self.revoked = self.revoked.saturating_add(other.revoked);
		self.budget_exceeded = self.budget_exceeded.saturating_add(other.budget_exceeded);
		self.tampered = self.tampered.saturating_add(other.tampered);
		self.unloadable = self.unloadable.saturating_add(other.unloadable);
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn counts_add_without_overflow() {
		let mut a = RefusalCounts { revoked: u32::MAX - 1, tampered: 1, ..Default::default() };
		assert!(!a.is_empty());
		a.add(&RefusalCounts { revoked: 5, not_granted: 2, ..Default::default() });
		assert_eq!(
			a,
			RefusalCounts { revoked: u32::MAX, tampered: 1, not_granted: 2, ..Default::default() }
		);
		assert!(RefusalCounts::default().is_empty());
		assert_eq!(
			a.capped(3),
			RefusalCounts { revoked: 3, tampered: 1, not_granted: 2, ..Default::default() }
		);
	}
}
