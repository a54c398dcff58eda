//! The DAO: token holders elect a committee (`pallet_elections_phragmen`, polkadot.js
//! *Governance → Council/Elections*), and its members propose and vote motions
//! (`pallet_collective`, instance `Council`). Two thirds of the committee is the origin that
//! governs TEA (`CommitteeOrGovernance`); root stays as well, which only the dev chain's sudo
//! key can reach.

use super::*;
use crate::{Council, DAYS, MINUTES, UNIT};
use frame_support::traits::EitherOfDiverse;
use frame_system::EnsureRoot;

/// The committee's collective instance.
pub type CouncilCollective = pallet_collective::Instance1;

/// Two thirds of the committee, or root: the origin of every TEA governance call.
pub type CommitteeOrRoot = EitherOfDiverse<
	EnsureRoot<AccountId>,
	pallet_collective::EnsureProportionAtLeast<AccountId, CouncilCollective, 2, 3>,
>;

parameter_types! {
	/// How long a motion stays open for votes.
	pub const CouncilMotionDuration: BlockNumber = 10 * MINUTES;
	pub const CouncilMaxProposals: u32 = 100;
	pub const CouncilMaxMembers: u32 = 32;
	/// A motion may use at most half a block.
	pub MaxProposalWeight: Weight = Perbill::from_percent(50) * RuntimeBlockWeights::get().max_block;

	pub const ElectionsPalletId: frame_support::traits::LockIdentifier = *b"phrelect";
	pub const CandidacyBond: Balance = 100 * UNIT;
	pub const VotingBondBase: Balance = UNIT;
	pub const VotingBondFactor: Balance = UNIT / 10;
	/// Elections every day.
	pub const TermDuration: BlockNumber = DAYS;
	pub const DesiredMembers: u32 = 7;
	pub const DesiredRunnersUp: u32 = 7;
	pub const MaxCandidates: u32 = 64;
	pub const MaxVoters: u32 = 512;
	pub const MaxVotesPerVoter: u32 = 16;
}

impl pallet_collective::Config<CouncilCollective> for Runtime {
	type RuntimeOrigin = RuntimeOrigin;
	type Proposal = RuntimeCall;
	type RuntimeEvent = RuntimeEvent;
	type MotionDuration = CouncilMotionDuration;
	type MaxProposals = CouncilMaxProposals;
	type MaxMembers = CouncilMaxMembers;
	type DefaultVote = pallet_collective::PrimeDefaultVote;
	type WeightInfo = pallet_collective::weights::SubstrateWeight<Runtime>;
	/// Members change through elections; root can reset them (dev chain only).
	type SetMembersOrigin = EnsureRoot<AccountId>;
	type MaxProposalWeight = MaxProposalWeight;
	type DisapproveOrigin = EnsureRoot<AccountId>;
	type KillOrigin = EnsureRoot<AccountId>;
	type Consideration = ();
}

impl pallet_elections_phragmen::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type PalletId = ElectionsPalletId;
	type Currency = Balances;
	type ChangeMembers = Council;
	type InitializeMembers = Council;
	type CurrencyToVote = sp_staking::currency_to_vote::U128CurrencyToVote;
	type CandidacyBond = CandidacyBond;
	type VotingBondBase = VotingBondBase;
	type VotingBondFactor = VotingBondFactor;
	type LoserCandidate = ();
	type KickedMember = ();
	type DesiredMembers = DesiredMembers;
	type DesiredRunnersUp = DesiredRunnersUp;
	type TermDuration = TermDuration;
	type MaxCandidates = MaxCandidates;
	type MaxVoters = MaxVoters;
	type MaxVotesPerVoter = MaxVotesPerVoter;
	type WeightInfo = pallet_elections_phragmen::weights::SubstrateWeight<Runtime>;
}
