//! The worker's top-level error: each subsystem's error composes into it.

use crate::{
	chain::ChainError,
	grants::ManifestError,
	runtime::{InvokeError, LoadError},
	store::StoreError,
};

/// Everything a `tea-worker` command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
	/// The chain client failed.
	#[error(transparent)]
	Chain(#[from] ChainError),
	/// The content store failed.
	#[error(transparent)]
	Store(#[from] StoreError),
	/// A manifest is malformed or its signature is wrong.
	#[error(transparent)]
	Manifest(#[from] ManifestError),
	/// An actor could not be loaded.
	#[error(transparent)]
	Load(#[from] LoadError),
	/// An actor call failed.
	#[error(transparent)]
	Invoke(#[from] InvokeError),
	/// The TPM failed.
	#[error(transparent)]
	Tpm(#[from] crate::tpm::TpmError),
	/// The libp2p network failed.
	#[error(transparent)]
	P2p(#[from] crate::p2p::P2pError),
	/// A misconfiguration (exit code 2).
	#[error("{0}")]
	Config(String),
	/// What was checked does not hold (a receipt that does not verify, a refused task).
	#[error("{0}")]
	Rejected(String),
	/// Bad command-line input.
	#[error("{0}")]
	Usage(String),
	/// A file could not be read or written.
	#[error("{path}: {source}")]
	Io {
		/// Which file.
		path: String,
		/// What went wrong.
		source: std::io::Error,
	},
}
