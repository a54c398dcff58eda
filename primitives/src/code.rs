//! Checks of an actor's Wasm bytes against its CID, its declared size and its grants.
//!
//! Validators' off-chain workers run [`check_release`] on the bytes they fetched before they vote
//! a release `Validated`; `tea-worker actor inspect` runs [`inspect`] to show a developer what
//! their module needs. Both use [`wasmparser`] with the feature set [`actor_wasm_features`], the
//! same one the worker's engine enables, so a module the chain accepts is one the worker runs.

use crate::{
	abi::{self, HostImport, Signature},
	cid::ContentId,
	manifest::{Grant, Name},
};
use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;
use wasmparser::{
	ExternalKind, FuncType, Parser, Payload, TypeRef, ValType, Validator, WasmFeatures,
};

/// Why the bytes of a release are not an acceptable actor. Recorded on chain when a release is
/// rejected, so every name in it is bounded (longer names are cut at [`crate::manifest::MAX_NAME_LEN`]).
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum CodeRejection {
	/// The bytes do not hash to the release's CID.
	HashMismatch,
	/// The number of bytes differs from the size the developer declared.
	SizeMismatch {
		/// Size in the release.
		declared: u32,
		/// Size of the bytes fetched.
		actual: u32,
	},
	/// The bytes are not a valid Wasm module for the actor feature set.
	InvalidWasm,
	/// An import that is not part of the TEA host ABI (another module, or an unknown core
	/// function).
	ForeignImport {
		/// Import module.
		module: Name,
		/// Import field.
		field: Name,
	},
	/// An import of a provider operation the manifest does not grant.
	UngrantedImport {
		/// Provider name.
		provider: Name,
		/// Operation name.
		operation: Name,
	},
	/// An ABI import or export with the wrong kind or signature.
	AbiMismatch {
		/// Import module, or empty for an export.
		module: Name,
		/// Field or export name.
		field: Name,
	},
	/// A required export (`memory`, `tea_alloc`, `tea_run`) is missing.
	MissingExport {
		/// The missing export.
		name: Name,
	},
}

/// The interface of a valid actor module.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ActorInterface {
	/// Provider operations the module imports, as `(provider, operation)`, in import order.
	pub provider_imports: Vec<(Name, Name)>,
	/// Core ABI functions the module imports.
	pub core_imports: Vec<&'static str>,
}

/// Wasm features an actor may use: the WebAssembly 2.0 set (bulk memory, multi-value, reference
/// types, SIMD, sign extension, saturating conversions, mutable globals). No threads, no
/// exceptions, no GC, no memory64: the worker's engine does not enable them.
pub fn actor_wasm_features() -> WasmFeatures {
	WasmFeatures::WASM2
}

fn name(text: &str) -> Name {
	Name::truncate_from(text.as_bytes().to_vec())
}

fn abi_mismatch(module: &str, field: &str) -> CodeRejection {
	CodeRejection::AbiMismatch { module: name(module), field: name(field) }
}

fn matches_signature(ty: &FuncType, signature: Signature) -> bool {
	fn same(types: &[ValType], abi: &[abi::AbiType]) -> bool {
		types.len() == abi.len()
			&& types.iter().zip(abi).all(|(t, a)| match a {
				abi::AbiType::I32 => *t == ValType::I32,
				abi::AbiType::I64 => *t == ValType::I64,
			})
	}
	same(ty.params(), signature.params) && same(ty.results(), signature.results)
}

/// Validates `bytes` as an actor module and returns what it imports. Does not look at grants.
pub fn inspect(bytes: &[u8]) -> Result<ActorInterface, CodeRejection> {
	Validator::new_with_features(actor_wasm_features())
		.validate_all(bytes)
		.map_err(|_| CodeRejection::InvalidWasm)?;
	interface(bytes)
}

/// The ABI check of [`inspect`] without the full validation of function bodies: for callers that
/// compile the module next (the compiler validates it), so the bytes are not validated twice.
/// Malformed sections still fail with [`CodeRejection::InvalidWasm`].
pub fn interface(bytes: &[u8]) -> Result<ActorInterface, CodeRejection> {
	let mut interface = ActorInterface::default();
	let mut types: Vec<FuncType> = Vec::new();
	// Type index of every function, imported ones first (the Wasm function index space).
	let mut functions: Vec<u32> = Vec::new();
	let mut exports: Vec<(&str, ExternalKind, u32)> = Vec::new();

	for payload in Parser::new(0).parse_all(bytes) {
		match payload.map_err(|_| CodeRejection::InvalidWasm)? {
			Payload::TypeSection(reader) => {
				for ty in reader.into_iter_err_on_gc_types() {
					types.push(ty.map_err(|_| CodeRejection::InvalidWasm)?);
				}
			}
			Payload::ImportSection(reader) => {
				for import in reader {
					let import = import.map_err(|_| CodeRejection::InvalidWasm)?;
					let Some(host) = abi::classify_import(import.module, import.name) else {
						return Err(CodeRejection::ForeignImport {
							module: name(import.module),
							field: name(import.name),
						});
					};
					let TypeRef::Func(type_index) = import.ty else {
						return Err(abi_mismatch(import.module, import.name));
					};
					let ty = types.get(type_index as usize).ok_or(CodeRejection::InvalidWasm)?;
					if !matches_signature(ty, host.signature()) {
						return Err(abi_mismatch(import.module, import.name));
					}
					functions.push(type_index);
					match host {
						HostImport::Core(function) => interface.core_imports.push(function.name),
						HostImport::Provider { provider, operation } => {
							interface.provider_imports.push((name(provider), name(operation)))
						}
					}
				}
			}
			Payload::FunctionSection(reader) => {
				for type_index in reader {
					functions.push(type_index.map_err(|_| CodeRejection::InvalidWasm)?);
				}
			}
			Payload::ExportSection(reader) => {
				for export in reader {
					let export = export.map_err(|_| CodeRejection::InvalidWasm)?;
					exports.push((export.name, export.kind, export.index));
				}
			}
			_ => {}
		}
	}

	let export = |wanted: &str| exports.iter().find(|(n, _, _)| *n == wanted);
	match export(abi::MEMORY_EXPORT) {
		Some((_, ExternalKind::Memory, _)) => {}
		Some(_) => return Err(abi_mismatch("", abi::MEMORY_EXPORT)),
		None => return Err(CodeRejection::MissingExport { name: name(abi::MEMORY_EXPORT) }),
	}
	for required in abi::REQUIRED_EXPORTS {
		let Some((_, kind, index)) = export(required.name) else {
			return Err(CodeRejection::MissingExport { name: name(required.name) });
		};
		let ty = (*kind == ExternalKind::Func)
			.then(|| functions.get(*index as usize))
			.flatten()
			.and_then(|type_index| types.get(*type_index as usize));
		if !ty.is_some_and(|ty| matches_signature(ty, required.signature)) {
			return Err(abi_mismatch("", required.name));
		}
	}
	Ok(interface)
}

/// The full check a validator runs on fetched release bytes: size, hash, a valid actor module,
/// and every provider import granted by the manifest (expiry is not considered here: the worker
/// enforces it per call).
pub fn check_release<BlockNumber>(
	bytes: &[u8],
	cid: &ContentId,
	declared_size: u32,
	grants: &[Grant<BlockNumber>],
) -> Result<ActorInterface, CodeRejection> {
	let actual = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
	if actual != declared_size {
		return Err(CodeRejection::SizeMismatch { declared: declared_size, actual });
	}
	if !cid.matches(bytes) {
		return Err(CodeRejection::HashMismatch);
	}
	let interface = inspect(bytes)?;
	for (provider, operation) in &interface.provider_imports {
		let granted = grants.iter().any(|grant| {
			grant.provider == *provider && grant.operations.iter().any(|op| op == operation)
		});
		if !granted {
			return Err(CodeRejection::UngrantedImport {
				provider: provider.clone(),
				operation: operation.clone(),
			});
		}
	}
	Ok(interface)
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::manifest::Limits;

	fn n(s: &str) -> Name {
		name(s)
	}

	fn grant(provider: &str, operations: &[&str]) -> Grant<u32> {
		Grant {
			provider: n(provider),
			operations: operations.iter().map(|o| n(o)).collect::<Vec<_>>().try_into().unwrap(),
			limits: Limits { max_memory_pages: 16, max_fuel_per_call: 1_000_000 },
			expires_at: None,
		}
	}

	/// An actor with the required exports and `imports` spliced in.
	fn actor(imports: &str) -> Vec<u8> {
		wat::parse_str(crate::testing::actor_wat(imports)).unwrap()
	}

	fn check(bytes: &[u8], grants: &[Grant<u32>]) -> Result<ActorInterface, CodeRejection> {
		check_release(bytes, &ContentId::of(bytes), bytes.len() as u32, grants)
	}

	const KV_GET: &str = r#"(import "tea:keyvalue" "get" (func (param i32 i32) (result i64)))
		(import "tea" "result_read" (func (param i32 i32) (result i32)))"#;

	#[test]
	fn granted_imports_pass_and_are_reported() {
		let bytes = actor(KV_GET);
		let interface = check(&bytes, &[grant("tea:keyvalue", &["get"])]).unwrap();
		assert_eq!(interface.provider_imports, vec![(n("tea:keyvalue"), n("get"))]);
		assert_eq!(interface.core_imports, vec!["result_read"]);
		// No imports at all is a valid (pure) actor.
		assert_eq!(check(&actor(""), &[]).unwrap(), ActorInterface::default());
	}

	#[test]
	fn grants_are_per_operation() {
		let bytes = actor(KV_GET);
		assert_eq!(
			check(&bytes, &[grant("tea:keyvalue", &["put"]), grant("tea:log", &["get"])]),
			Err(CodeRejection::UngrantedImport {
				provider: n("tea:keyvalue"),
				operation: n("get")
			})
		);
		assert!(matches!(check(&bytes, &[]), Err(CodeRejection::UngrantedImport { .. })));
	}

	#[test]
	fn bytes_must_match_cid_and_size() {
		let bytes = actor(KV_GET);
		let cid = ContentId::of(&bytes);
		let grants = [grant("tea:keyvalue", &["get"])];
		let mut tampered = bytes.clone();
		*tampered.last_mut().unwrap() ^= 1;
		assert_eq!(
			check_release(&tampered, &cid, bytes.len() as u32, &grants),
			Err(CodeRejection::HashMismatch)
		);
		assert_eq!(
			check_release(&bytes, &cid, 7, &grants),
			Err(CodeRejection::SizeMismatch { declared: 7, actual: bytes.len() as u32 })
		);
	}

	#[test]
	fn foreign_and_malformed_imports_are_refused() {
		let foreign = actor(r#"(import "env" "abort" (func))"#);
		assert_eq!(
			check(&foreign, &[]),
			Err(CodeRejection::ForeignImport { module: n("env"), field: n("abort") })
		);
		let unknown_core = actor(r#"(import "tea" "exec" (func))"#);
		assert!(matches!(check(&unknown_core, &[]), Err(CodeRejection::ForeignImport { .. })));
		let wrong_sig = actor(r#"(import "tea:keyvalue" "get" (func (param i32) (result i64)))"#);
		assert_eq!(
			check(&wrong_sig, &[grant("tea:keyvalue", &["get"])]),
			Err(CodeRejection::AbiMismatch { module: n("tea:keyvalue"), field: n("get") })
		);
		let not_a_func = wat::parse_str(
			r#"(module (import "tea:keyvalue" "get" (memory 1))
				(func (export "tea_alloc") (param i32) (result i32) i32.const 0)
				(func (export "tea_run") (param i32 i32) (result i64) i64.const 0)
				(export "memory" (memory 0)))"#,
		)
		.unwrap();
		assert!(matches!(check(&not_a_func, &[]), Err(CodeRejection::AbiMismatch { .. })));
		let long = "x".repeat(300);
		let long_import = actor(&format!(r#"(import "{long}" "f" (func))"#));
		match check(&long_import, &[]) {
			Err(CodeRejection::ForeignImport { module, .. }) => assert_eq!(module.len(), 64),
			other => panic!("unexpected {other:?}"),
		}
	}

	#[test]
	fn exports_follow_the_abi() {
		let no_run = wat::parse_str(
			r#"(module (memory (export "memory") 1)
				(func (export "tea_alloc") (param i32) (result i32) i32.const 0))"#,
		)
		.unwrap();
		assert_eq!(check(&no_run, &[]), Err(CodeRejection::MissingExport { name: n("tea_run") }));
		let no_memory = wat::parse_str(
			r#"(module (memory 1)
				(func (export "tea_alloc") (param i32) (result i32) i32.const 0)
				(func (export "tea_run") (param i32 i32) (result i64) i64.const 0))"#,
		)
		.unwrap();
		assert_eq!(check(&no_memory, &[]), Err(CodeRejection::MissingExport { name: n("memory") }));
		let bad_run = wat::parse_str(
			r#"(module (memory (export "memory") 1)
				(func (export "tea_alloc") (param i32) (result i32) i32.const 0)
				(func (export "tea_run") (param i32) (result i32) i32.const 0))"#,
		)
		.unwrap();
		assert_eq!(
			check(&bad_run, &[]),
			Err(CodeRejection::AbiMismatch { module: n(""), field: n("tea_run") })
		);
	}

	#[test]
	fn features_outside_the_actor_set_are_invalid() {
		// Threads (shared memory) are not in the actor feature set.
		let threads = wat::parse_str(
			r#"(module (memory (export "memory") 1 1 shared)
				(func (export "tea_alloc") (param i32) (result i32) i32.const 0)
				(func (export "tea_run") (param i32 i32) (result i64) i64.const 0))"#,
		)
		.unwrap();
		assert_eq!(check(&threads, &[]), Err(CodeRejection::InvalidWasm));
		// A body that does not type-check.
		let ill_typed = wat::parse_str(
			r#"(module (memory (export "memory") 1)
				(func (export "tea_alloc") (param i32) (result i32) i64.const 0)
				(func (export "tea_run") (param i32 i32) (result i64) i64.const 0))"#,
		);
		if let Ok(bytes) = ill_typed {
			assert_eq!(check(&bytes, &[]), Err(CodeRejection::InvalidWasm));
		}
	}

	#[test]
	fn random_and_mutated_bytes_never_panic() {
		let valid = actor(KV_GET);
		let grants = [grant("tea:keyvalue", &["get"])];
		let mut rng = crate::testing::XorShift::new(0x9e37_79b9_7f4a_7c15);
		let mut next = || rng.next();
		for round in 0..4000 {
			let mut bytes = if round % 2 == 0 {
				valid.clone()
			} else {
				(0..(next() % 200) as usize).map(|_| next() as u8).collect()
			};
			for _ in 0..(next() % 4) {
				if !bytes.is_empty() {
					let at = (next() as usize) % bytes.len();
					bytes[at] = next() as u8;
				}
			}
			if round % 7 == 0 {
				bytes.truncate((next() as usize) % (bytes.len() + 1));
			}
			// Must return (Ok or a specific error), never panic.
			let _ = check(&bytes, &grants);
			let _ = inspect(&bytes);
			let _ = interface(&bytes);
		}
	}
}
