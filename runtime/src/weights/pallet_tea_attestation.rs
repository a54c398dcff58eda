//! Placeholder until `scripts/benchmark.sh pallet_tea_attestation` writes this file.

pub struct WeightInfo<T>(core::marker::PhantomData<T>);
impl<T> pallet_tea_attestation::WeightInfo for WeightInfo<T> {
	fn submit_admission(n: u32) -> frame_support::weights::Weight {
		<() as pallet_tea_attestation::WeightInfo>::submit_admission(n)
	}
	fn submit_heartbeat() -> frame_support::weights::Weight {
		<() as pallet_tea_attestation::WeightInfo>::submit_heartbeat()
	}
	fn submit_rejected() -> frame_support::weights::Weight {
		<() as pallet_tea_attestation::WeightInfo>::submit_rejected()
	}
	fn vote() -> frame_support::weights::Weight {
		<() as pallet_tea_attestation::WeightInfo>::vote()
	}
	fn set_heartbeat_rules() -> frame_support::weights::Weight {
		<() as pallet_tea_attestation::WeightInfo>::set_heartbeat_rules()
	}
	fn close_review() -> frame_support::weights::Weight {
		<() as pallet_tea_attestation::WeightInfo>::close_review()
	}
	fn check_heartbeats(n: u32) -> frame_support::weights::Weight {
		<() as pallet_tea_attestation::WeightInfo>::check_heartbeats(n)
	}
}
