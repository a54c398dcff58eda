//! # tea-actor-sdk
//!
//! Write a TEA actor in Rust without touching the host ABI:
//!
//! ```ignore
//! #![no_std]
//! extern crate alloc;
//! use alloc::vec::Vec;
//!
//! fn handle(input: &[u8]) -> Vec<u8> {
//!     let count = tea_actor_sdk::kv::get(b"count").ok().flatten();
//!     // ...
//!     input.to_vec()
//! }
//! tea_actor_sdk::actor!(handle);
//! ```
//!
//! Build with `cargo build --release --target wasm32v1-none` (crate type `cdylib`). The macro
//! exports `tea_alloc` and `tea_run`, installs a bump allocator (reset at the start of every
//! call, so nothing is ever freed one by one) and a panic handler that traps.
//!
//! Every host function returns `Err(HostError::Denied)` when the release's manifest does not
//! grant the operation (or the grant expired or was revoked): the worker checks each call.
//! ABI reference: `tea-primitives/src/abi.rs` (version 1).

#![no_std]

extern crate alloc;

use alloc::{vec, vec::Vec};

/// The ABI version this SDK speaks.
pub const ABI_VERSION: i32 = 1;

/// Why a host call failed (the negative codes of ABI v1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostError {
	/// Not granted, expired or revoked.
	Denied,
	/// The request was malformed or out of bounds.
	BadRequest,
	/// The provider failed; retrying may help.
	ProviderFailed,
	/// A budget of the grant is exhausted.
	BudgetExceeded,
	/// No pending result to read.
	NoResult,
	/// The key, blob or actor does not exist.
	NotFound,
	/// A code this SDK does not know (a newer host).
	Unknown(i64),
}

impl HostError {
	/// The error of a negative result code.
	pub fn from_code(code: i64) -> Self {
		match code {
			-1 => Self::Denied,
			-2 => Self::BadRequest,
			-3 => Self::ProviderFailed,
			-4 => Self::BudgetExceeded,
			-5 => Self::NoResult,
			-6 => Self::NotFound,
			other => Self::Unknown(other),
		}
	}

	/// The ABI code.
	pub fn code(self) -> i64 {
		match self {
			Self::Denied => -1,
			Self::BadRequest => -2,
			Self::ProviderFailed => -3,
			Self::BudgetExceeded => -4,
			Self::NoResult => -5,
			Self::NotFound => -6,
			Self::Unknown(code) => code,
		}
	}
}

#[allow(missing_docs)]
mod sys {
	#[link(wasm_import_module = "tea")]
	extern "C" {
		pub fn result_read(ptr: *mut u8, len: i32) -> i32;
		pub fn abi_version() -> i32;
	}
	#[link(wasm_import_module = "tea:keyvalue")]
	extern "C" {
		#[link_name = "get"]
		pub fn kv_get(ptr: *const u8, len: i32) -> i64;
		#[link_name = "put"]
		pub fn kv_put(ptr: *const u8, len: i32) -> i64;
		#[link_name = "delete"]
		pub fn kv_delete(ptr: *const u8, len: i32) -> i64;
	}
	#[link(wasm_import_module = "tea:log")]
	extern "C" {
		#[link_name = "write"]
		pub fn log_write(ptr: *const u8, len: i32) -> i64;
	}
	#[link(wasm_import_module = "tea:random")]
	extern "C" {
		#[link_name = "bytes"]
		pub fn random_bytes(ptr: *const u8, len: i32) -> i64;
	}
	#[link(wasm_import_module = "tea:blob")]
	extern "C" {
		#[link_name = "read"]
		pub fn blob_read(ptr: *const u8, len: i32) -> i64;
	}
	#[link(wasm_import_module = "tea:message")]
	extern "C" {
		#[link_name = "send"]
		pub fn message_send(ptr: *const u8, len: i32) -> i64;
	}
}

type HostCall = unsafe extern "C" fn(*const u8, i32) -> i64;

/// Calls a provider operation with `request` and reads back its response.
fn call(operation: HostCall, request: &[u8]) -> Result<Vec<u8>, HostError> {
	// SAFETY: the host reads `request.len()` bytes at `request.as_ptr()`, inside our memory.
	let len = unsafe { operation(request.as_ptr(), request.len() as i32) };
	if len < 0 {
		return Err(HostError::from_code(len));
	}
	let mut out = vec![0u8; len as usize];
	// SAFETY: the host writes at most `out.len()` bytes into `out`.
	let copied = unsafe { sys::result_read(out.as_mut_ptr(), out.len() as i32) };
	if copied < 0 {
		return Err(HostError::from_code(copied.into()));
	}
	out.truncate(copied as usize);
	Ok(out)
}

/// `u32 LE length of first ++ first ++ second`: the two-part request encoding of ABI v1.
fn pair(first: &[u8], second: &[u8]) -> Vec<u8> {
	let mut request = Vec::with_capacity(4 + first.len() + second.len());
	request.extend_from_slice(&(first.len() as u32).to_le_bytes());
	request.extend_from_slice(first);
	request.extend_from_slice(second);
	request
}

/// The host's ABI version.
pub fn host_abi_version() -> i32 {
	// SAFETY: no arguments.
	unsafe { sys::abi_version() }
}

/// `tea:keyvalue`: a persistent key-value store private to this actor.
pub mod kv {
	use super::*;

	/// The value under `key`, if any (`tea:keyvalue/get`).
	pub fn get(key: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
		match call(sys::kv_get, key) {
			Ok(value) => Ok(Some(value)),
			Err(HostError::NotFound) => Ok(None),
			Err(e) => Err(e),
		}
	}

	/// Stores `value` under `key` (`tea:keyvalue/put`).
	pub fn put(key: &[u8], value: &[u8]) -> Result<(), HostError> {
		call(sys::kv_put, &pair(key, value)).map(|_| ())
	}

	/// Removes `key` (`tea:keyvalue/delete`).
	pub fn delete(key: &[u8]) -> Result<(), HostError> {
		call(sys::kv_delete, key).map(|_| ())
	}
}

/// `tea:log`: lines in the worker's log, tagged with this actor.
pub mod log {
	use super::*;

	/// Logs `message` (`tea:log/write`).
	pub fn write(message: &str) -> Result<(), HostError> {
		call(sys::log_write, message.as_bytes()).map(|_| ())
	}
}

/// `tea:random`: randomness from the worker's OS.
pub mod random {
	use super::*;

	/// `count` random bytes, at most 4096 (`tea:random/bytes`).
	pub fn bytes(count: u32) -> Result<Vec<u8>, HostError> {
		call(sys::random_bytes, &count.to_le_bytes())
	}
}

/// `tea:blob`: content by CID from the worker's verified content store.
pub mod blob {
	use super::*;

	/// The bytes of the binary CID `cid` (`tea:blob/read`).
	pub fn read(cid: &[u8]) -> Result<Vec<u8>, HostError> {
		call(sys::blob_read, cid)
	}
}

/// `tea:message`: call another actor on this worker.
pub mod message {
	use super::*;

	/// Runs the active release of `actor` with `payload`; returns its output (`tea:message/send`).
	pub fn send(actor: &str, payload: &[u8]) -> Result<Vec<u8>, HostError> {
		call(sys::message_send, &pair(actor.as_bytes(), payload))
	}
}

/// A bump allocator over `memory.grow`, reset at the start of every call: freeing is
/// unnecessary and allocation is a pointer bump.
pub struct BumpAllocator;

#[cfg(target_arch = "wasm32")]
mod bump {
	use core::{alloc::Layout, arch::wasm32};

	static mut NEXT: usize = 0;
	static mut END: usize = 0;

	extern "C" {
		static __heap_base: u8;
	}

	/// Forgets every allocation: the start of a new call (see [`super::__alloc`]).
	pub fn reset() {
		// SAFETY: single-threaded Wasm; the statics are only touched here.
		unsafe {
			if END != 0 {
				NEXT = core::ptr::addr_of!(__heap_base) as usize;
			}
		}
	}

	pub fn alloc(layout: Layout) -> *mut u8 {
		// SAFETY: single-threaded Wasm; the statics are only touched here.
		unsafe {
			if END == 0 {
				NEXT = core::ptr::addr_of!(__heap_base) as usize;
				END = wasm32::memory_size(0) * 65536;
			}
			let start = (NEXT + layout.align() - 1) & !(layout.align() - 1);
			let Some(end) = start.checked_add(layout.size()) else {
				return core::ptr::null_mut();
			};
			if end > END {
				let pages = (end - END).div_ceil(65536);
				if wasm32::memory_grow(0, pages) == usize::MAX {
					return core::ptr::null_mut();
				}
				END += pages * 65536;
			}
			NEXT = end;
			start as *mut u8
		}
	}
}

#[cfg(target_arch = "wasm32")]
unsafe impl core::alloc::GlobalAlloc for BumpAllocator {
	unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
		bump::alloc(layout)
	}
	unsafe fn dealloc(&self, _ptr: *mut u8, _layout: core::alloc::Layout) {}
}

/// The host calls `tea_alloc` exactly once at the start of every call, after it has read the
/// previous call's output: the heap is reset there, so a session's calls do not accumulate
/// memory. Actors keep state in providers (e.g. `kv`), never on the heap between calls.
#[doc(hidden)]
pub fn __alloc(len: i32) -> i32 {
	#[cfg(target_arch = "wasm32")]
	bump::reset();
	let buffer: &'static mut [u8] = Vec::leak(vec![0u8; len.max(0) as usize]);
	buffer.as_mut_ptr() as i32
}

#[doc(hidden)]
pub fn __run(ptr: i32, len: i32, handler: fn(&[u8]) -> Vec<u8>) -> i64 {
	// SAFETY: the host wrote `len` bytes at `ptr`, a buffer it got from `tea_alloc`.
	let input = unsafe { core::slice::from_raw_parts(ptr as *const u8, len.max(0) as usize) };
	let output: &'static mut [u8] = Vec::leak(handler(input));
	((output.as_ptr() as i64) << 32) | output.len() as i64
}

/// Makes `handler: fn(&[u8]) -> Vec<u8>` the actor's entry point: exports `tea_alloc` and
/// `tea_run`, sets the bump allocator and a trapping panic handler.
#[macro_export]
macro_rules! actor {
	($handler:path) => {
		#[cfg(target_arch = "wasm32")]
		#[global_allocator]
		static __TEA_ALLOCATOR: $crate::BumpAllocator = $crate::BumpAllocator;

		#[cfg(target_arch = "wasm32")]
		#[panic_handler]
		fn __tea_panic(_: &core::panic::PanicInfo) -> ! {
			core::arch::wasm32::unreachable()
		}

		#[no_mangle]
		pub extern "C" fn tea_alloc(len: i32) -> i32 {
			$crate::__alloc(len)
		}

		#[no_mangle]
		pub extern "C" fn tea_run(ptr: i32, len: i32) -> i64 {
			$crate::__run(ptr, len, $handler)
		}
	};
}
