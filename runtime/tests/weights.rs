//! What the runtime's generated weights promise (issue 14's performance targets), checked on
//! the weights the runtime charges.

use tea_runtime::Runtime;

type Attestation = pallet_tea_attestation::Pallet<Runtime>;

/// A heartbeat whose event log holds 16 entries, every one a release rolling out in the
/// node's tier (the dearest kind of entry: looked up, judged and signalled to its rollout),
/// against a heartbeat with an empty log, in compute time (this solochain's blocks are bounded
/// by it; proof size bounds only parachain blocks).
///
/// Issue 14 asks for at most 1.5x; the generated weights give 1.64x (each such entry reads 5
/// storage items and writes 2: the node's rollout assignment and the rollout's tier count).
/// Until that is met this guards the measured ratio against regressions (at most 1.75x).
#[test]
fn a_heartbeat_with_a_16_entry_log_weighs_at_most_1_75_times_one_without() {
	let without = Attestation::submit_weight(0).ref_time();
	let with = Attestation::submit_weight(16).ref_time();
	assert!(
		with.saturating_mul(4) <= without.saturating_mul(7),
		"16 entries: {with} ps, {:.2}x the {without} ps of none",
		with as f64 / without as f64
	);
}

/// The longest log a quote may carry still leaves room in a block for other extrinsics.
#[test]
fn a_quote_with_the_longest_log_fits_a_quarter_of_a_block() {
	use frame_support::traits::Get as _;
	let longest = <Runtime as pallet_tea_attestation::Config>::MaxLogEntries::get();
	let weight = Attestation::submit_weight(longest);
	let block = <Runtime as frame_system::Config>::BlockWeights::get().max_block;
	assert!(
		weight.ref_time().saturating_mul(4) <= block.ref_time(),
		"{longest} entries: {weight:?} against a block's {block:?}"
	);
}
