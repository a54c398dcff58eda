//! Measured evidence (no_std): the event log a worker's TPM owner keeps of everything it
//! extends into the policy's log PCR, the PCR policy governance sets, and the replay that
//! checks a quote's PCR values against both. The runtime replays every quote's log; the worker
//! replays its own before it submits it, with this same code.
//!
//! A TPM PCR can only be *extended* (`new = SHA-256(old ‖ digest)` in the SHA-256 bank) or
//! reset by a TPM reset. So the value of the log PCR in a quote is a hash chain over every
//! digest extended since the last reset, in order: an entry changed, removed, reordered or
//! added after the fact no longer reproduces it ([`EvidenceError::EventLogMismatch`]). What an
//! entry means is fixed by its kind and data: its digest is computed from them
//! ([`LogEvent::digest`]), never sent beside them, so an entry cannot claim one thing and have
//! extended another.
//!
//! PCRs 16 (debug) and 23 (application) can be reset by any software at locality 0, and 17–22
//! by a dynamic launch: a value in them proves nothing about what ran before the reset.
//! A policy uses PCRs 0–15 only ([`MAX_POLICY_PCR`]).

use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;
use sha2::{Digest, Sha256};
use sp_runtime::{traits::ConstU32, BoundedVec};

/// The highest PCR a policy may select: 16–23 can be reset without a TPM reset.
pub const MAX_POLICY_PCR: u8 = 15;
/// Most PCRs in a policy (all of 0–15).
pub const MAX_POLICY_PCRS: u32 = 16;
/// Most bytes of an entry's data (a release CID is 36 bytes, a SHA-256 digest 32).
pub const MAX_EVENT_DATA: u32 = 64;
/// Domain separator of entry digests.
pub const EVENT_DOMAIN: &[u8] = b"tea/event/v1";

/// What an event log entry records.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub enum EventKind {
	/// The worker runtime binary, measured by the launcher before it ran it; data: the
	/// binary's SHA-256.
	Runtime,
	/// The configuration the launcher measured with it; data: its SHA-256.
	Config,
	/// An actor release, extended before its module was compiled; data: the release's CID.
	Actor,
	/// A built-in provider the worker enabled (its code is part of the runtime binary); data:
	/// its registered name.
	Provider,
	/// The receipt key the worker runtime generated when it started (`receipt` module): data:
	/// its 32-byte ed25519 public key. Valid only after a `Runtime` entry in the same TPM
	/// cycle; the latest one since the latest runtime is the node's receipt key.
	ReceiptKey,
}

/// One entry of the event log: `data` of `kind` was extended into PCR `pcr`.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct LogEvent {
	/// The PCR it was extended into.
	pub pcr: u8,
	/// What it records.
	pub kind: EventKind,
	/// What was measured (see [`EventKind`]).
	pub data: BoundedVec<u8, ConstU32<MAX_EVENT_DATA>>,
}

impl LogEvent {
	/// The digest the TPM owner extends: `SHA-256(EVENT_DOMAIN ‖ kind ‖ data)`.
	pub fn digest(&self) -> [u8; 32] {
		let mut hasher = Sha256::new();
		hasher.update(EVENT_DOMAIN);
		hasher.update([self.kind as u8]);
		hasher.update((self.data.len() as u8).to_be_bytes());
		hasher.update(&self.data);
		hasher.finalize().into()
	}
}

/// `TPM2_PCR_Extend` in the SHA-256 bank: the value a PCR holding `value` holds after
/// `digest` is extended into it.
pub fn extend(value: &[u8; 32], digest: &[u8; 32]) -> [u8; 32] {
	let mut hasher = Sha256::new();
	hasher.update(value);
	hasher.update(digest);
	hasher.finalize().into()
}

/// How a policy treats one PCR.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	serde::Serialize,
	serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub enum PcrRule {
	/// It must hold exactly this value (boot PCRs: firmware, boot loader).
	Fixed([u8; 32]),
	/// Quoted, not compared (e.g. boot PCRs on development machines).
	Unchecked,
	/// It holds the event log: its value must be what the log's entries extend it to.
	Log,
}

/// Which PCRs a quote must cover and what each must hold, set by governance.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct PcrPolicy {
	/// `(PCR, rule)`, strictly ascending PCRs, all at most [`MAX_POLICY_PCR`], exactly one
	/// of them [`PcrRule::Log`].
	pub pcrs: BoundedVec<(u8, PcrRule), ConstU32<MAX_POLICY_PCRS>>,
}

/// Why a policy cannot be set.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub enum PolicyError {
	/// PCRs must be strictly ascending.
	NotAscending,
	/// A PCR that software can reset without a TPM reset (16–23).
	ResettablePcr(u8),
	/// No PCR holds the event log.
	NoLogPcr,
	/// More than one PCR holds the event log: the order of entries across PCRs is not bound,
	/// so the log could claim another order (another runtime "last launched").
	SeveralLogPcrs,
}

impl PcrPolicy {
	/// Checks the rules a policy must follow before it is set.
	pub fn validate(&self) -> Result<(), PolicyError> {
		if let Some((pcr, _)) = self.pcrs.iter().find(|(pcr, _)| *pcr > MAX_POLICY_PCR) {
			return Err(PolicyError::ResettablePcr(*pcr));
		}
		if !self.pcrs.windows(2).all(|w| w[0].0 < w[1].0) {
			return Err(PolicyError::NotAscending);
		}
		match self.pcrs.iter().filter(|(_, rule)| *rule == PcrRule::Log).count() {
			0 => return Err(PolicyError::NoLogPcr),
			1 => {}
			_ => return Err(PolicyError::SeveralLogPcrs),
		}
		Ok(())
	}

	/// The PCRs a quote must cover, ascending.
	pub fn selection(&self) -> impl Iterator<Item = u8> + '_ {
		self.pcrs.iter().map(|(pcr, _)| *pcr)
	}

	/// Whether `pcr` holds the event log.
	pub fn is_log_pcr(&self, pcr: u8) -> bool {
		self.pcrs.iter().any(|(p, rule)| *p == pcr && *rule == PcrRule::Log)
	}
}

/// Why a quote's PCR values are not what the policy and the log say. Each is evidence against
/// the node: the TPM signed the values.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub enum EvidenceError {
	/// The quote does not cover exactly the policy's PCRs.
	NotPolicySelection,
	/// A PCR with a fixed value in the policy holds another.
	PcrValueNotAllowed(u8),
	/// A log entry names a PCR that is not one of the policy's log PCRs.
	EntryOutsidePolicy,
	/// The log does not extend the log PCRs from their last accepted values to the quoted
	/// ones: an entry was changed, removed, reordered or added, or something else was
	/// extended.
	EventLogMismatch,
	/// A receipt key was extended with no worker runtime launched before it in the TPM cycle:
	/// no measured process made it.
	ReceiptKeyWithoutRuntime,
	/// A receipt key entry whose data is not a 32-byte public key.
	MalformedReceiptKey,
}

/// Checks quoted PCR values against `policy`, replaying `log` over `base`.
///
/// - `base`: the log PCRs' values at the node's last accepted quote in this TPM reset cycle,
///   or none (all zero) when the TPM was reset since (its log then starts at boot);
/// - `log`: the entries extended since then, in order;
/// - `quoted`: the quote's `(PCR, value)`s (the quote's signature and digest are checked by
///   `tpm::verify_quote`).
///
/// The caller then judges what each entry records (the runtime binary allowlisted, each actor
/// release approved for the node).
pub fn replay(
	policy: &PcrPolicy,
	base: &[(u8, [u8; 32])],
	log: &[LogEvent],
	quoted: &[(u8, [u8; 32])],
) -> Result<(), EvidenceError> {
	if quoted.len() != policy.pcrs.len()
		|| quoted.iter().zip(policy.pcrs.iter()).any(|((q, _), (p, _))| q != p)
	{
		return Err(EvidenceError::NotPolicySelection);
	}
	if log.iter().any(|entry| !policy.is_log_pcr(entry.pcr)) {
		return Err(EvidenceError::EntryOutsidePolicy);
	}
	for ((pcr, value), (_, rule)) in quoted.iter().zip(policy.pcrs.iter()) {
		match rule {
			PcrRule::Fixed(expected) if value != expected => {
				return Err(EvidenceError::PcrValueNotAllowed(*pcr))
			}
			PcrRule::Log => {
				let start = base.iter().find(|(p, _)| p == pcr).map_or([0u8; 32], |(_, v)| *v);
				let end = log
					.iter()
					.filter(|entry| entry.pcr == *pcr)
					.fold(start, |acc, entry| extend(&acc, &entry.digest()));
				if end != *value {
					return Err(EvidenceError::EventLogMismatch);
				}
			}
			_ => {}
		}
	}
	Ok(())
}

/// Replays `log` as the runtime judges a quote: from `last`, the log PCRs' values of the
/// node's last accepted quote in the quote's TPM reset cycle, if the log continues from
/// there; else from zero (a log since the reset is always proof, whatever was accepted).
/// Returns whether it continued from `last`; the error is the one replaying from zero gives.
pub fn replay_since(
	policy: &PcrPolicy,
	last: Option<&[(u8, [u8; 32])]>,
	log: &[LogEvent],
	quoted: &[(u8, [u8; 32])],
) -> Result<bool, EvidenceError> {
	if last.is_some_and(|base| replay(policy, base, log, quoted).is_ok()) {
		return Ok(true);
	}
	replay(policy, &[], log, quoted).map(|()| false)
}

/// The PCR a worker keeps its event log in unless configured otherwise, and the development
/// chains' policy's log PCR. PCRs 8-15 are all used by some boot chain; 13 is extended only
/// when systemd-stub loads system extensions, the least used of them.
pub const DEFAULT_LOG_PCR: u8 = 13;
/// The PCRs a development swtpm's "boot" extends (the firmware and boot loader PCRs of the TCG
/// PC Client profile).
pub const DEV_BOOT_PCRS: core::ops::RangeInclusive<u8> = 0..=7;
/// Domain separator of the development boot digests.
pub const DEV_BOOT_DOMAIN: &[u8] = b"tea/dev-boot/v1";

/// What a development swtpm's "boot" extends into PCR `pcr` (one of [`DEV_BOOT_PCRS`]):
/// `SHA-256(DEV_BOOT_DOMAIN ‖ pcr)`. Public constants: they show that the boot part of a
/// policy is checked, not what booted (see the README's trust model).
pub fn dev_boot_digest(pcr: u8) -> [u8; 32] {
	let mut hasher = Sha256::new();
	hasher.update(DEV_BOOT_DOMAIN);
	hasher.update([pcr]);
	hasher.finalize().into()
}

/// The value PCR `pcr` holds after a development boot: one extend of [`dev_boot_digest`].
pub fn dev_boot_value(pcr: u8) -> [u8; 32] {
	extend(&[0; 32], &dev_boot_digest(pcr))
}

/// The development chains' policy: the boot PCRs at their development values, the log in
/// [`DEFAULT_LOG_PCR`].
pub fn dev_policy() -> PcrPolicy {
	let mut pcrs: Vec<(u8, PcrRule)> =
		DEV_BOOT_PCRS.map(|pcr| (pcr, PcrRule::Fixed(dev_boot_value(pcr)))).collect();
	pcrs.push((DEFAULT_LOG_PCR, PcrRule::Log));
	PcrPolicy { pcrs: pcrs.try_into().expect("9 of at most 16 PCRs") }
}

/// How many of `log`'s first entries, extended from zero, bring the policy's log PCR to its
/// value in `base` (none if they never do): the entries after them were extended after the
/// moment the log PCR held that value.
pub fn reaches(policy: &PcrPolicy, base: &[(u8, [u8; 32])], log: &[LogEvent]) -> Option<usize> {
	let (pcr, target) = base.iter().find(|(pcr, _)| policy.is_log_pcr(*pcr))?;
	let mut value = [0u8; 32];
	if value == *target {
		return Some(0);
	}
	for (i, entry) in log.iter().enumerate().filter(|(_, e)| e.pcr == *pcr) {
		value = extend(&value, &entry.digest());
		if value == *target {
			return Some(i + 1);
		}
	}
	None
}

/// The log PCRs' values a valid quote leaves as the next quote's `base`.
pub fn log_values(policy: &PcrPolicy, quoted: &[(u8, [u8; 32])]) -> Vec<(u8, [u8; 32])> {
	quoted.iter().filter(|(pcr, _)| policy.is_log_pcr(*pcr)).copied().collect()
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::testing::XorShift;

	const LOG_PCR: u8 = 14;

	fn policy() -> PcrPolicy {
		PcrPolicy {
			pcrs: alloc::vec![
				(0, PcrRule::Fixed([7; 32])),
				(1, PcrRule::Unchecked),
				(LOG_PCR, PcrRule::Log)
			]
			.try_into()
			.unwrap(),
		}
	}

	fn event(kind: EventKind, data: &[u8]) -> LogEvent {
		LogEvent { pcr: LOG_PCR, kind, data: data.to_vec().try_into().unwrap() }
	}

	/// What a TPM that started at `base` and extended `log` quotes under `policy()`.
	fn quoted(base: [u8; 32], log: &[LogEvent]) -> Vec<(u8, [u8; 32])> {
		let end = log.iter().fold(base, |acc, e| extend(&acc, &e.digest()));
		alloc::vec![(0, [7; 32]), (1, [9; 32]), (LOG_PCR, end)]
	}

	fn launch_log() -> Vec<LogEvent> {
		alloc::vec![
			event(EventKind::Runtime, &[1; 32]),
			event(EventKind::Config, &[2; 32]),
			event(EventKind::Actor, &[3; 36]),
		]
	}

	#[test]
	fn a_log_that_reproduces_the_quoted_values_passes() {
		let log = launch_log();
		assert_eq!(replay(&policy(), &[], &log, &quoted([0; 32], &log)), Ok(()));
		// The next quote carries only the entries since, from the last accepted values.
		let base = log_values(&policy(), &quoted([0; 32], &log));
		let more = alloc::vec![event(EventKind::Actor, &[4; 36])];
		let end = quoted(base[0].1, &more);
		assert_eq!(replay(&policy(), &base, &more, &end), Ok(()));
		// Nothing extended since: an empty log.
		assert_eq!(replay(&policy(), &base, &[], &quoted(base[0].1, &[])), Ok(()));
		// The same entries from boot also reproduce it.
		let all: Vec<_> = log.iter().chain(&more).cloned().collect();
		assert_eq!(replay(&policy(), &[], &all, &end), Ok(()));
	}

	#[test]
	fn every_tampering_is_caught_with_its_reason() {
		let log = launch_log();
		let good = quoted([0; 32], &log);
		let with_log = |f: &dyn Fn(&mut Vec<LogEvent>)| {
			let mut l = log.clone();
			f(&mut l);
			replay(&policy(), &[], &l, &good)
		};
		let mismatch = Err(EvidenceError::EventLogMismatch);
		assert_eq!(with_log(&|l| l[2].data[0] ^= 1), mismatch, "an entry's data changed");
		assert_eq!(with_log(&|l| l[1].kind = EventKind::Runtime), mismatch, "an entry's kind");
		assert_eq!(with_log(&|l| drop(l.remove(2))), mismatch, "an entry removed");
		assert_eq!(with_log(&|l| l.swap(0, 1)), mismatch, "entries reordered");
		assert_eq!(with_log(&|l| l.push(event(EventKind::Actor, &[5; 36]))), mismatch, "appended");
		assert_eq!(with_log(&|l| l.clear()), mismatch, "no log");
		assert_eq!(
			with_log(&|l| l[0].pcr = 1),
			Err(EvidenceError::EntryOutsidePolicy),
			"an entry in a PCR that holds no log"
		);
		// The quoted values: a boot PCR, the log PCR; the selection.
		let with_quote = |f: &dyn Fn(&mut Vec<(u8, [u8; 32])>)| {
			let mut q = good.clone();
			f(&mut q);
			replay(&policy(), &[], &log, &q)
		};
		assert_eq!(with_quote(&|q| q[0].1[0] ^= 1), Err(EvidenceError::PcrValueNotAllowed(0)));
		assert_eq!(with_quote(&|q| q[1].1[0] ^= 1), Ok(()), "an unchecked PCR");
		assert_eq!(with_quote(&|q| q[2].1[0] ^= 1), mismatch);
		assert_eq!(
			with_quote(&|q| {
				q.remove(1);
			}),
			Err(EvidenceError::NotPolicySelection)
		);
		assert_eq!(with_quote(&|q| q[2].0 = 16), Err(EvidenceError::NotPolicySelection));
		assert_eq!(with_quote(&|q| q.push((15, [0; 32]))), Err(EvidenceError::NotPolicySelection));
		// The log from the wrong starting point: as if the TPM had not been reset.
		let base = [(LOG_PCR, [1; 32])];
		assert_eq!(replay(&policy(), &base, &log, &good), mismatch);
	}

	#[test]
	fn the_review_finding_a_reset_pcr_proves_nothing() {
		// Review finding: the measurement was a digest of whatever PCRs the quote selected, and
		// the worker measured itself into PCR 16 only if it was zero, so `tpm2_pcrreset 16` and
		// an extend of the genuine binary's hash let any binary quote the genuine measurement.
		// A policy cannot select a PCR that can be reset without a TPM reset.
		for pcr in 16..=23 {
			let mut p = policy();
			p.pcrs.try_push((pcr, PcrRule::Log)).unwrap();
			assert_eq!(p.validate(), Err(PolicyError::ResettablePcr(pcr)));
		}
		assert_eq!(policy().validate(), Ok(()));
		let unordered = PcrPolicy {
			pcrs: alloc::vec![(LOG_PCR, PcrRule::Log), (0, PcrRule::Unchecked)].try_into().unwrap(),
		};
		assert_eq!(unordered.validate(), Err(PolicyError::NotAscending));
		let no_log = PcrPolicy { pcrs: alloc::vec![(0, PcrRule::Unchecked)].try_into().unwrap() };
		assert_eq!(no_log.validate(), Err(PolicyError::NoLogPcr));
		let two_logs = PcrPolicy {
			pcrs: alloc::vec![(10, PcrRule::Log), (LOG_PCR, PcrRule::Log)].try_into().unwrap(),
		};
		assert_eq!(two_logs.validate(), Err(PolicyError::SeveralLogPcrs));
	}

	#[test]
	fn a_log_from_the_reset_shows_where_it_passed_the_accepted_value() {
		let log = launch_log();
		let after_two = log[..2].iter().fold([0u8; 32], |acc, e| extend(&acc, &e.digest()));
		assert_eq!(reaches(&policy(), &[(LOG_PCR, after_two)], &log), Some(2));
		assert_eq!(reaches(&policy(), &[(LOG_PCR, [0; 32])], &log), Some(0));
		assert_eq!(reaches(&policy(), &[(LOG_PCR, [5; 32])], &log), None, "never held");
		assert_eq!(reaches(&policy(), &[(1, after_two)], &log), None, "not the log PCR");
	}

	#[test]
	fn the_dev_policy_is_valid_and_checks_the_dev_boot() {
		let policy = dev_policy();
		assert_eq!(policy.validate(), Ok(()));
		assert_eq!(policy.selection().collect::<Vec<_>>(), [0, 1, 2, 3, 4, 5, 6, 7, 13]);
		let boot: Vec<_> = DEV_BOOT_PCRS
			.map(|pcr| (pcr, dev_boot_value(pcr)))
			.chain([(DEFAULT_LOG_PCR, [0; 32])])
			.collect();
		assert_eq!(replay(&policy, &[], &[], &boot), Ok(()));
		// A TPM that did not boot the development way (a bare swtpm: all zero).
		let mut bare = boot.clone();
		bare[3].1 = [0; 32];
		assert_eq!(replay(&policy, &[], &[], &bare), Err(EvidenceError::PcrValueNotAllowed(3)));
		assert_ne!(dev_boot_digest(0), dev_boot_digest(1));
	}

	#[test]
	fn digests_bind_kind_and_data() {
		let a = event(EventKind::Actor, &[3; 36]);
		assert_ne!(a.digest(), event(EventKind::Provider, &[3; 36]).digest());
		assert_ne!(a.digest(), event(EventKind::Actor, &[3; 35]).digest());
		// The length is bound: data `[1]` of one kind is not data `[]` with another prefix.
		assert_ne!(
			event(EventKind::Runtime, &[]).digest(),
			event(EventKind::Runtime, &[0]).digest()
		);
		// The PCR an entry is extended into is not part of its digest, but of the replay.
		let mut other = a.clone();
		other.pcr = 0;
		assert_eq!(a.digest(), other.digest());
		// A TPM2 extend of SHA-256: SHA-256(old ‖ digest).
		let mut hasher = Sha256::new();
		hasher.update([0u8; 32]);
		hasher.update(a.digest());
		let expected: [u8; 32] = hasher.finalize().into();
		assert_eq!(extend(&[0; 32], &a.digest()), expected);
	}

	/// Random logs, each mutated at random: every mutation that changes the sequence of
	/// digests extended is caught, and the unmutated log always passes.
	#[test]
	fn random_logs_and_mutations() {
		let mut rng = XorShift::new(42);
		let kinds = [EventKind::Runtime, EventKind::Config, EventKind::Actor, EventKind::Provider];
		for round in 0..2000 {
			let n = 1 + rng.below(12) as usize;
			let log: Vec<LogEvent> = (0..n)
				.map(|_| {
					let len = rng.below(MAX_EVENT_DATA + 1) as usize;
					let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
					event(kinds[rng.below(4) as usize], &data)
				})
				.collect();
			let base_value = if round % 2 == 0 { [0; 32] } else { [round as u8; 32] };
			let base =
				if round % 2 == 0 { alloc::vec![] } else { alloc::vec![(LOG_PCR, base_value)] };
			let good = quoted(base_value, &log);
			assert_eq!(replay(&policy(), &base, &log, &good), Ok(()), "round {round}");
			let mut bad = log.clone();
			let at = rng.below(n as u32) as usize;
			match rng.below(5) {
				0 => {
					let len = bad[at].data.len();
					if len == 0 {
						bad[at].data.try_push(0).unwrap();
					} else {
						let i = rng.below(len as u32) as usize;
						bad[at].data[i] ^= 1 + (rng.next() as u8 % 255);
					}
				}
				1 => drop(bad.remove(at)),
				2 => bad.insert(at, event(EventKind::Actor, &[round as u8; 36])),
				3 => bad[at].kind = kinds[(bad[at].kind as usize + 1) % 4],
				_ => {
					let other = (at + 1 + rng.below(n as u32) as usize) % n;
					bad.swap(at, other);
				}
			}
			let digests = |l: &[LogEvent]| l.iter().map(|e| e.digest()).collect::<Vec<_>>();
			let expected = if digests(&bad) == digests(&log) {
				Ok(())
			} else {
				Err(EvidenceError::EventLogMismatch)
			};
			assert_eq!(replay(&policy(), &base, &bad, &good), expected, "round {round}");
		}
	}
}
