//! Weights generated on the TEA reference machine by `scripts/benchmark.sh` (`tea-node
//! benchmark pallet|overhead`). The node that measured them is a debug build with dependencies at
//! opt-level 1 (the runtime itself is release Wasm), so they over-estimate a release node:
//! conservative, never too low.

pub mod block_weights;
pub mod extrinsic_weights;
pub mod pallet_tea_actors;
pub mod pallet_tea_attestation;
pub mod pallet_tea_nodes;
pub mod pallet_tea_upgrades;
