//! `pallet_tea_actors`: the actor and provider registry.

use super::*;
use crate::{Signature, TxExtension, UncheckedExtrinsic, UNIT};
use alloc::vec::Vec;
use sp_runtime::{generic::Era, traits::Verify};

parameter_types! {
	/// Deposit held for an actor name.
	pub const ActorDeposit: Balance = 10 * UNIT;
	/// Deposit held for each release until it is removed.
	pub const ReleaseDeposit: Balance = UNIT;
}

/// The validators whose off-chain workers check releases: the Aura authorities.
pub struct AuraValidators;
impl pallet_tea_actors::ValidatorSet<AuraId> for AuraValidators {
	fn validators() -> Vec<AuraId> {
		pallet_aura::Authorities::<Runtime>::get().into_inner()
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn set_for_benchmark(validators: Vec<AuraId>) {
		let bounded = frame_support::BoundedVec::truncate_from(validators);
		pallet_aura::Authorities::<Runtime>::put(bounded);
	}
}

/// The nodes whose operators may report refusals: registered and trusted (active or on
/// probation).
pub struct TrustedNodes;
impl pallet_tea_actors::RefusalReporters<AccountId> for TrustedNodes {
	fn may_report(who: &AccountId, node: &pallet_tea_actors::NodeId) -> bool {
		use pallet_tea_nodes::{NodeRegistry, NodeState};
		crate::Nodes::node(node).is_some_and(|n| {
			n.operator == *who && matches!(n.state, NodeState::Active | NodeState::Probation { .. })
		})
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn reporter_for_benchmark() -> (AccountId, pallet_tea_actors::NodeId) {
		use pallet_tea_nodes::{NodeRegistry, NodeState};
		let operator: AccountId = frame_benchmarking::account("reporter", 0, 0);
		let key = tea_primitives::tpm::dev_attestation_key(7_777);
		let node =
			crate::Nodes::insert_for_benchmark(7_777, operator.clone(), key, NodeState::Active);
		(operator, node)
	}
}

impl pallet_tea_actors::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Signature = Signature;
	type Signer = <Signature as Verify>::Signer;
	/// Two thirds of the elected committee (or root, i.e. sudo on the dev chain).
	type GovernanceOrigin = super::governance::CommitteeOrRoot;
	type ValidatorId = AuraId;
	type Validators = AuraValidators;
	type MaxValidators = ConstU32<32>;
	type ActorDeposit = ActorDeposit;
	type ReleaseDeposit = ReleaseDeposit;
	type MaxReleasesPerActor = ConstU32<16>;
	type MaxPendingValidations = ConstU32<64>;
	/// 4 MiB of Wasm.
	type MaxCodeSize = ConstU32<{ 4 * 1024 * 1024 }>;
	/// Two minutes at six-second blocks.
	type FetchRetryBlocks = ConstU32<20>;
	type Reporters = TrustedNodes;
	/// A minute at six-second blocks.
	type RefusalReportInterval = ConstU32<10>;
	type MaxRefusalReports = ConstU32<8>;
	/// Generated on this machine by `scripts/benchmark.sh`.
	type WeightInfo = crate::weights::pallet_tea_actors::WeightInfo<Runtime>;
}

impl<C> frame_system::offchain::CreateTransactionBase<C> for Runtime
where
	RuntimeCall: From<C>,
{
	type Extrinsic = UncheckedExtrinsic;
	type RuntimeCall = RuntimeCall;
}

impl<C> frame_system::offchain::CreateTransaction<C> for Runtime
where
	RuntimeCall: From<C>,
{
	type Extension = TxExtension;

	fn create_transaction(call: RuntimeCall, extension: TxExtension) -> UncheckedExtrinsic {
		UncheckedExtrinsic::new_transaction(call, extension)
	}
}

/// Off-chain workers submit authorized calls (validator verdicts) as general transactions: no
/// account, no nonce, no fee; `AuthorizeCall` validates them with the call's own check.
impl<C> frame_system::offchain::CreateAuthorizedTransaction<C> for Runtime
where
	RuntimeCall: From<C>,
{
	fn create_extension() -> TxExtension {
		(
			frame_system::AuthorizeCall::<Runtime>::new(),
			frame_system::CheckNonZeroSender::<Runtime>::new(),
			frame_system::CheckSpecVersion::<Runtime>::new(),
			frame_system::CheckTxVersion::<Runtime>::new(),
			frame_system::CheckGenesis::<Runtime>::new(),
			frame_system::CheckEra::<Runtime>::from(Era::Immortal),
			frame_system::CheckNonce::<Runtime>::from(0),
			frame_system::CheckWeight::<Runtime>::new(),
			pallet_transaction_payment::ChargeTransactionPayment::<Runtime>::from(0),
			frame_system::WeightReclaim::<Runtime>::new(),
		)
	}
}
