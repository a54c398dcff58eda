//! The pallets benchmarked by `tea-node benchmark pallet` (feature `runtime-benchmarks`).

frame_benchmarking::define_benchmarks!(
	[frame_benchmarking, BaselineBench::<Runtime>]
	[frame_system, SystemBench::<Runtime>]
	[frame_system_extensions, SystemExtensionsBench::<Runtime>]
	[pallet_balances, Balances]
	[pallet_timestamp, Timestamp]
	[pallet_sudo, Sudo]
	[pallet_utility, Utility]
	[pallet_collective, Council]
	[pallet_elections_phragmen, Elections]
	[pallet_tea_actors, Actors]
	[pallet_tea_upgrades, Upgrades]
	[pallet_tea_nodes, Nodes]
	[pallet_tea_attestation, Attestation]
	[pallet_tea_rewards, Rewards]
);
