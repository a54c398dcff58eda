//! Placeholder until `scripts/benchmark.sh pallet_tea_nodes` writes this file.

pub type WeightInfo<T> = pallet_tea_nodes::weights::SubstrateWeight<T>;
