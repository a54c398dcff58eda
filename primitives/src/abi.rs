//! The TEA host ABI, version 1: the only doors between an actor's Wasm and the world.
//!
//! An actor is a core Wasm module. It **exports**
//! - `memory`: its linear memory (it must not import one);
//! - `tea_alloc(len: i32) -> i32`: reserve `len` bytes and return their address, used by the host
//!   to hand the actor its input;
//! - `tea_run(ptr: i32, len: i32) -> i64`: handle one invocation whose input is at `ptr..ptr+len`;
//!   the result is `(out_ptr << 32) | out_len`, the output bytes in the actor's memory.
//!
//! It may **import** only functions:
//! - from the core module [`CORE_MODULE`] (`tea`), listed in [`CORE_IMPORTS`], which need no grant;
//! - one per provider operation: module = provider name (e.g. `tea:keyvalue`), field = operation
//!   (e.g. `get`), signature [`PROVIDER_CALL`] `(req_ptr: i32, req_len: i32) -> i64`. The host
//!   checks the call against the release's grants; a result `>= 0` is the length of the response,
//!   which the actor copies out with `tea.result_read`; a negative result is a [`HostError`].
//!
//! A release may import a provider operation only if its manifest grants it: the chain's
//! validators check this before a release can be voted ([`crate::code`]), and the worker checks
//! every call again at run time.

/// Version of this ABI; bumped on any incompatible change.
pub const ABI_VERSION: u32 = 1;

/// Import module of the functions every actor may use without a grant.
pub const CORE_MODULE: &str = "tea";

/// Every provider name starts with this prefix, so provider imports never collide with the core
/// module or with another toolchain's imports (`env`, `wasi_snapshot_preview1`, ...).
pub const PROVIDER_PREFIX: &str = "tea:";

/// Name of the exported linear memory.
pub const MEMORY_EXPORT: &str = "memory";

/// Value types that appear in the ABI.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AbiType {
	/// A 32-bit integer (pointers and lengths).
	I32,
	/// A 64-bit integer (packed results and error codes).
	I64,
}

/// The signature of one function of the ABI.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Signature {
	/// Parameter types, in order.
	pub params: &'static [AbiType],
	/// Result types, in order.
	pub results: &'static [AbiType],
}

/// A named function of the ABI with its signature.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HostFunction {
	/// Field name of the import or export.
	pub name: &'static str,
	/// Its signature.
	pub signature: Signature,
}

use AbiType::{I32, I64};

/// Signature of every provider operation import: `(req_ptr, req_len) -> i64`.
pub const PROVIDER_CALL: Signature = Signature { params: &[I32, I32], results: &[I64] };

/// `tea.result_read(dst_ptr, dst_len) -> i32`: copy the pending response of the last provider
/// call into the actor's memory; returns the number of bytes copied or a negative [`HostError`].
pub const RESULT_READ: HostFunction = HostFunction {
	name: "result_read",
	signature: Signature { params: &[I32, I32], results: &[I32] },
};

/// `tea.abi_version() -> i32`: the host's [`ABI_VERSION`].
pub const ABI_VERSION_FN: HostFunction =
	HostFunction { name: "abi_version", signature: Signature { params: &[], results: &[I32] } };

/// Core imports: allowed for every actor, no grant needed.
pub const CORE_IMPORTS: &[HostFunction] = &[RESULT_READ, ABI_VERSION_FN];

/// `tea_alloc(len) -> ptr`, exported by the actor.
pub const ALLOC_EXPORT: HostFunction =
	HostFunction { name: "tea_alloc", signature: Signature { params: &[I32], results: &[I32] } };

/// `tea_run(ptr, len) -> (out_ptr << 32) | out_len`, exported by the actor.
pub const RUN_EXPORT: HostFunction =
	HostFunction { name: "tea_run", signature: Signature { params: &[I32, I32], results: &[I64] } };

/// Function exports every actor must have.
pub const REQUIRED_EXPORTS: &[HostFunction] = &[ALLOC_EXPORT, RUN_EXPORT];

/// What an import of an actor refers to under this ABI.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HostImport<'a> {
	/// A core function, allowed without a grant.
	Core(&'static HostFunction),
	/// An operation of a provider; needs a grant.
	Provider {
		/// Provider name, e.g. `tea:keyvalue`.
		provider: &'a str,
		/// Operation name, e.g. `get`.
		operation: &'a str,
	},
}

impl HostImport<'_> {
	/// The signature this import must have.
	pub fn signature(&self) -> Signature {
		match self {
			HostImport::Core(function) => function.signature,
			HostImport::Provider { .. } => PROVIDER_CALL,
		}
	}
}

/// Classifies the import `module.field`, or `None` when it is not part of the ABI.
pub fn classify_import<'a>(module: &'a str, field: &'a str) -> Option<HostImport<'a>> {
	if module == CORE_MODULE {
		return CORE_IMPORTS.iter().find(|f| f.name == field).map(HostImport::Core);
	}
	if is_provider_name(module.as_bytes()) && !field.is_empty() {
		return Some(HostImport::Provider { provider: module, operation: field });
	}
	None
}

/// Whether `name` can name a provider: [`PROVIDER_PREFIX`] followed by at least one of
/// `a-z 0-9 - _ .`.
pub fn is_provider_name(name: &[u8]) -> bool {
	name.strip_prefix(PROVIDER_PREFIX.as_bytes()).is_some_and(|rest| {
		!rest.is_empty()
			&& rest
				.iter()
				.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(b))
	})
}

/// Whether `name` can name an operation: one or more of `a-z 0-9 - _`.
pub fn is_operation_name(name: &[u8]) -> bool {
	!name.is_empty()
		&& name.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_".contains(b))
}

/// Errors a host function returns to the actor as a negative `i64` / `i32`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(i32)]
pub enum HostError {
	/// The release has no grant for this provider operation (or it expired or was revoked).
	Denied = -1,
	/// A pointer/length pair is outside the actor's memory, or the request is malformed.
	BadRequest = -2,
	/// The provider failed (e.g. storage error); the actor may retry.
	ProviderFailed = -3,
	/// The call would exceed a budget of the grant.
	BudgetExceeded = -4,
	/// `result_read` without a pending response.
	NoResult = -5,
	/// The target of the call (blob, key, actor) does not exist.
	NotFound = -6,
}

impl HostError {
	/// All errors, for decoding.
	pub const ALL: [HostError; 6] = [
		HostError::Denied,
		HostError::BadRequest,
		HostError::ProviderFailed,
		HostError::BudgetExceeded,
		HostError::NoResult,
		HostError::NotFound,
	];

	/// The code the actor sees.
	pub fn code(self) -> i32 {
		self as i32
	}

	/// The error for a negative code, if it is one.
	pub fn from_code(code: i64) -> Option<HostError> {
		Self::ALL.into_iter().find(|e| i64::from(e.code()) == code)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn imports_are_classified() {
		assert_eq!(classify_import("tea", "result_read"), Some(HostImport::Core(&RESULT_READ)));
		assert_eq!(classify_import("tea", "nope"), None);
		assert_eq!(
			classify_import("tea:keyvalue", "get"),
			Some(HostImport::Provider { provider: "tea:keyvalue", operation: "get" })
		);
		assert_eq!(classify_import("tea:", "get"), None);
		assert_eq!(classify_import("tea:keyvalue", ""), None);
		assert_eq!(classify_import("env", "get"), None);
		assert_eq!(classify_import("wasi_snapshot_preview1", "fd_write"), None);
		assert_eq!(classify_import("tea:KeyValue", "get"), None);
	}

	#[test]
	fn error_codes_round_trip() {
		for e in HostError::ALL {
			assert!(e.code() < 0);
			assert_eq!(HostError::from_code(e.code().into()), Some(e));
		}
		assert_eq!(HostError::from_code(0), None);
		assert_eq!(HostError::from_code(-100), None);
	}
}
