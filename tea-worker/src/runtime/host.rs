//! The host side of ABI v1: `tea.result_read`, `tea.abi_version`, one function per provider
//! operation, and `tea:message/send`. Guest memory is bounds-checked; no host function panics.

use super::{HostState, SecurityEventKind};
use crate::{
	grants::Refusal,
	providers::{split_pair, CallContext, Provider},
};
use std::{collections::HashMap, sync::Arc};
use tea_primitives::abi::{self, HostError};
use wasmtime::{Caller, Linker};

/// The messaging provider, served by the runtime itself.
pub(crate) const MESSAGE: &str = "tea:message";
/// Its one operation.
pub(crate) const MESSAGE_SEND: &str = "send";

/// Largest request an actor may pass to a provider.
const MAX_REQUEST: usize = (1 << 20) + 1024;

fn code(e: HostError) -> i64 {
	i64::from(e.code())
}

/// Reads `len` bytes at `ptr` of the caller's memory.
fn read_guest(
	caller: &mut Caller<'_, HostState>,
	ptr: i32,
	len: i32,
) -> Result<Vec<u8>, HostError> {
	let memory = caller
		.get_export(abi::MEMORY_EXPORT)
		.and_then(|e| e.into_memory())
		.ok_or(HostError::BadRequest)?;
	let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
	if len > MAX_REQUEST {
		return Err(HostError::BadRequest);
	}
	memory
		.data(&caller)
		.get(ptr..ptr.checked_add(len).ok_or(HostError::BadRequest)?)
		.map(<[u8]>::to_vec)
		.ok_or(HostError::BadRequest)
}

/// The grant check of every provider call: granted, not expired, not revoked, and within the
/// grant's fuel budget. A refusal is recorded as a security event.
fn authorize(
	caller: &mut Caller<'_, HostState>,
	provider: &str,
	operation: &str,
) -> Result<(), HostError> {
	let fuel_left = caller.get_fuel().unwrap_or(0);
	let state = caller.data();
	let refusal = match state.release.grant_for(provider, operation, state.block) {
		Ok(grant) => {
			let used = state.fuel_at_start.saturating_sub(fuel_left);
			if used <= grant.limits.max_fuel_per_call {
				return Ok(());
			}
			Refusal::BudgetExceeded
		}
		Err(refusal) => refusal,
	};
	state.runtime.security.record(
		&state.release.actor,
		&state.release.cid,
		SecurityEventKind::Refused {
			provider: provider.into(),
			operation: operation.into(),
			refusal,
		},
	);
	Err(if refusal == Refusal::BudgetExceeded {
		HostError::BudgetExceeded
	} else {
		HostError::Denied
	})
}

fn provider_call(
	caller: &mut Caller<'_, HostState>,
	provider: &Arc<dyn Provider>,
	operation: &'static str,
	ptr: i32,
	len: i32,
) -> i64 {
	let result = authorize(caller, provider.name(), operation)
		.and_then(|()| read_guest(caller, ptr, len))
		.and_then(|request| {
			let state = caller.data();
			let ctx = CallContext { actor: &state.release.actor, cid: &state.release.cid };
			provider.call(&ctx, operation, &request)
		});
	respond(caller, result)
}

fn message_send(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> i64 {
	let result = authorize(caller, MESSAGE, MESSAGE_SEND)
		.and_then(|()| read_guest(caller, ptr, len))
		.and_then(|request| {
			let (actor, payload) = split_pair(&request)?;
			let actor = std::str::from_utf8(actor).map_err(|_| HostError::BadRequest)?;
			let state = caller.data();
			super::message(&state.runtime, actor, payload, state.depth)
		});
	respond(caller, result)
}

/// Keeps a successful response for `result_read` and returns its length, or the error code.
fn respond(caller: &mut Caller<'_, HostState>, result: Result<Vec<u8>, HostError>) -> i64 {
	match result {
		Ok(response) => {
			let len = response.len() as i64;
			caller.data_mut().pending = Some(response);
			len
		}
		Err(e) => code(e),
	}
}

fn result_read(mut caller: Caller<'_, HostState>, ptr: i32, len: i32) -> i32 {
	let Some(response) = caller.data_mut().pending.take() else {
		return HostError::NoResult.code();
	};
	let Some(memory) = caller.get_export(abi::MEMORY_EXPORT).and_then(|e| e.into_memory()) else {
		return HostError::BadRequest.code();
	};
	let n = response.len().min(len as u32 as usize);
	match memory.write(&mut caller, ptr as u32 as usize, &response[..n]) {
		Ok(()) => n as i32,
		Err(_) => HostError::BadRequest.code(),
	}
}

/// Defines every ABI v1 import in `linker`.
pub(crate) fn define(
	linker: &mut Linker<HostState>,
	providers: &HashMap<&'static str, Arc<dyn Provider>>,
) -> wasmtime::Result<()> {
	linker.func_wrap(abi::CORE_MODULE, abi::RESULT_READ.name, result_read)?;
	linker.func_wrap(abi::CORE_MODULE, abi::ABI_VERSION_FN.name, || abi::ABI_VERSION as i32)?;
	for (name, provider) in providers {
		for operation in provider.operations() {
			let provider = provider.clone();
			linker.func_wrap(
				name,
				operation,
				move |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| -> i64 {
					provider_call(&mut caller, &provider, operation, ptr, len)
				},
			)?;
		}
	}
	linker.func_wrap(
		MESSAGE,
		MESSAGE_SEND,
		|mut caller: Caller<'_, HostState>, ptr: i32, len: i32| -> i64 {
			message_send(&mut caller, ptr, len)
		},
	)?;
	Ok(())
}
