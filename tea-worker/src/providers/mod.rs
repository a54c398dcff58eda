//! Built-in capability providers: the only way an actor reaches the world.
//!
//! The mini-runtime checks the caller's grant before a provider sees a call; each provider then
//! acts only on the caller's own resources (its key-value namespace, its log tag), identified
//! by the actor name of the release the worker loaded — never by anything the actor says.
//! Request encodings are those of the host ABI v1 (`tea-primitives/src/abi.rs`).

mod keyvalue;

pub use keyvalue::KeyValue;

use crate::store::{ContentStore, StoreError};
use std::{
	collections::VecDeque,
	sync::{Arc, Mutex},
};
use tea_primitives::{abi::HostError, ContentId};

/// Who is calling: the release the worker loaded.
pub struct CallContext<'a> {
	/// Actor name of the calling release.
	pub actor: &'a str,
	/// CID of the calling release.
	pub cid: &'a ContentId,
}

/// A capability provider.
pub trait Provider: Send + Sync {
	/// Its name, e.g. `tea:keyvalue` (the import module).
	fn name(&self) -> &'static str;
	/// The operations it offers (the import fields).
	fn operations(&self) -> &'static [&'static str];
	/// Performs `operation` for the caller; the grant is already checked.
	fn call(
		&self,
		caller: &CallContext<'_>,
		operation: &str,
		request: &[u8],
	) -> Result<Vec<u8>, HostError>;
}

/// Splits the two-part request encoding of ABI v1: `u32 LE len(first) ++ first ++ second`.
pub fn split_pair(request: &[u8]) -> Result<(&[u8], &[u8]), HostError> {
	let (len, rest) = request.split_first_chunk::<4>().ok_or(HostError::BadRequest)?;
	let len = u32::from_le_bytes(*len) as usize;
	if len > rest.len() {
		return Err(HostError::BadRequest);
	}
	Ok(rest.split_at(len))
}

/// `tea:log`: `write(message)` logs a line tagged with the actor (tracing target `tea::actor`)
/// and keeps the last lines for `tea-worker actor run` and tests. The text is the actor's, so
/// it is [`sanitize`]d first: it cannot forge log lines or drive the operator's terminal.
#[derive(Default)]
pub struct Log {
	lines: Mutex<VecDeque<(String, String)>>,
}

/// Lines `tea:log` keeps in memory.
const LOG_LINES_KEPT: usize = 1024;
/// Longest line `tea:log` accepts, in bytes.
const MAX_LOG_LINE: usize = 4096;

impl Log {
	/// The kept lines as `(actor, message)`, oldest first.
	pub fn lines(&self) -> Vec<(String, String)> {
		self.lines.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
	}
}

impl Provider for Log {
	fn name(&self) -> &'static str {
		"tea:log"
	}

	fn operations(&self) -> &'static [&'static str] {
		&["write"]
	}

	fn call(
		&self,
		caller: &CallContext<'_>,
		_: &str,
		request: &[u8],
	) -> Result<Vec<u8>, HostError> {
		if request.len() > MAX_LOG_LINE {
			return Err(HostError::BadRequest);
		}
		let message = sanitize(&String::from_utf8_lossy(request));
		tracing::info!(target: "tea::actor", actor = caller.actor, "{message}");
		let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
		if lines.len() == LOG_LINES_KEPT {
			lines.pop_front();
		}
		lines.push_back((caller.actor.to_owned(), message));
		Ok(Vec::new())
	}
}

/// `text` with every character that could forge a log line or drive a terminal escaped as
/// `\u{…}` (and `\` doubled): control characters (line breaks, escape sequences, backspace,
/// …), Unicode line and paragraph separators, and bidirectional marks and overrides that
/// reorder what a reader sees.
pub fn sanitize(text: &str) -> String {
	let mut out = String::with_capacity(text.len());
	for c in text.chars() {
		let hostile = c.is_control()
			|| matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
			|| ('\u{202a}'..='\u{202e}').contains(&c)
			|| ('\u{2066}'..='\u{2069}').contains(&c);
		if hostile {
			out.push_str(&format!("\\u{{{:x}}}", c as u32));
		} else if c == '\\' {
			// Doubled, so an escape above is never confused with text the actor wrote.
			out.push_str("\\\\");
		} else {
			out.push(c);
		}
	}
	out
}

/// `tea:random`: `bytes(u32 LE count)` returns up to 4096 bytes from the OS.
pub struct Random;

/// Most random bytes per call.
const MAX_RANDOM_BYTES: u32 = 4096;

impl Provider for Random {
	fn name(&self) -> &'static str {
		"tea:random"
	}

	fn operations(&self) -> &'static [&'static str] {
		&["bytes"]
	}

	fn call(&self, _: &CallContext<'_>, _: &str, request: &[u8]) -> Result<Vec<u8>, HostError> {
		let count = u32::from_le_bytes(request.try_into().map_err(|_| HostError::BadRequest)?);
		if count > MAX_RANDOM_BYTES {
			return Err(HostError::BadRequest);
		}
		let mut out = vec![0u8; count as usize];
		getrandom::getrandom(&mut out).map_err(|_| HostError::ProviderFailed)?;
		Ok(out)
	}
}

/// `tea:blob`: `read(binary CID)` returns the verified content from the worker's store.
pub struct Blob {
	store: Arc<ContentStore>,
	max_size: u64,
}

impl Blob {
	/// Blobs up to `max_size` bytes from `store`.
	pub fn new(store: Arc<ContentStore>, max_size: u64) -> Self {
		Self { store, max_size }
	}
}

impl Provider for Blob {
	fn name(&self) -> &'static str {
		"tea:blob"
	}

	fn operations(&self) -> &'static [&'static str] {
		&["read"]
	}

	fn call(
		&self,
		caller: &CallContext<'_>,
		_: &str,
		request: &[u8],
	) -> Result<Vec<u8>, HostError> {
		let cid = ContentId::from_bytes(request).map_err(|_| HostError::BadRequest)?;
		self.store.get(&cid, self.max_size).map_err(|e| match e {
			StoreError::Missing(_) => HostError::NotFound,
			StoreError::TooLarge { .. } => HostError::BudgetExceeded,
			other => {
				tracing::warn!(target: "tea::providers", actor = caller.actor, "blob read failed: {other}");
				HostError::ProviderFailed
			}
		})
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn ctx() -> (String, ContentId) {
		("tester".into(), ContentId::of(b"tester"))
	}

	#[test]
	fn pair_encoding_is_bounds_checked() {
		assert_eq!(split_pair(&[2, 0, 0, 0, b'a', b'b', b'c']).unwrap(), (&b"ab"[..], &b"c"[..]));
		assert_eq!(split_pair(&[3, 0, 0, 0, b'a']), Err(HostError::BadRequest));
		assert_eq!(split_pair(&[1, 0]), Err(HostError::BadRequest));
		assert_eq!(split_pair(&[0xff, 0xff, 0xff, 0xff]), Err(HostError::BadRequest));
	}

	#[test]
	fn log_random_and_blob_do_what_they_say() {
		let (actor, cid) = ctx();
		let caller = CallContext { actor: &actor, cid: &cid };
		let log = Log::default();
		log.call(&caller, "write", "hello".as_bytes()).unwrap();
		assert_eq!(log.lines(), vec![("tester".to_string(), "hello".to_string())]);
		assert_eq!(log.call(&caller, "write", &vec![b'x'; 5000]), Err(HostError::BadRequest));
		// A hostile line: a forged second log line, a terminal escape, a bidi override, and
		// text that looks like an escape.
		let forged =
			"ok\n2026-12-01T00:00:00Z  INFO tea::daemon: stopped\r\u{1b}[2J\u{202e}txt.exe \\u{a}";
		log.call(&caller, "write", forged.as_bytes()).unwrap();
		let (_, kept) = log.lines().pop().unwrap();
		assert_eq!(
			kept,
			"ok\\u{a}2026-12-01T00:00:00Z  INFO tea::daemon: stopped\\u{d}\\u{1b}[2J\\u{202e}txt.exe \\\\u{a}"
		);
		assert!(!kept.chars().any(char::is_control), "{kept:?}");
		assert_eq!(sanitize("naïve café — 日本"), "naïve café — 日本");

		let a = Random.call(&caller, "bytes", &32u32.to_le_bytes()).unwrap();
		let b = Random.call(&caller, "bytes", &32u32.to_le_bytes()).unwrap();
		assert_eq!(a.len(), 32);
		assert_ne!(a, b);
		assert_eq!(
			Random.call(&caller, "bytes", &5000u32.to_le_bytes()),
			Err(HostError::BadRequest)
		);
		assert_eq!(Random.call(&caller, "bytes", &[1, 2]), Err(HostError::BadRequest));

		let dir = tempfile::tempdir().unwrap();
		let store = Arc::new(ContentStore::open(dir.path()).unwrap());
		let data = store.put(b"1\n2\n3\n").unwrap();
		let blob = Blob::new(store, 4);
		assert_eq!(blob.call(&caller, "read", data.as_bytes()), Err(HostError::BudgetExceeded));
		let blob = Blob::new(blob.store, 1024);
		assert_eq!(blob.call(&caller, "read", data.as_bytes()).unwrap(), b"1\n2\n3\n");
		assert_eq!(
			blob.call(&caller, "read", ContentId::of(b"nope").as_bytes()),
			Err(HostError::NotFound)
		);
		assert_eq!(blob.call(&caller, "read", b"garbage"), Err(HostError::BadRequest));
	}
}
