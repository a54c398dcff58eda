//! The worker's top-level error: each subsystem's error composes into it.

use crate::chain::ChainError;

/// Everything a `tea-worker` command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
	/// The chain client failed.
	#[error(transparent)]
	Chain(#[from] ChainError),
}
