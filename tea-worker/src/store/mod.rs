//! The content store: CID -> bytes on disk under `<data-dir>/blobs/`, verified on every read.
//!
//! Writes are atomic (temporary file, fsync, rename), so a crash leaves either the whole blob or
//! nothing. A blob whose bytes no longer hash to its CID (disk corruption, tampering) is never
//! returned: the read fails with [`StoreError::Corrupt`] and the file is moved aside. Missing
//! blobs can be fetched through a [`Fetcher`] (an HTTP gateway) or from peers
//! ([`crate::p2p::blob`]), and are verified before they are stored; a blob that arrives in chunks
//! goes through a [`BlobWriter`], which hashes while it writes to a temporary file, so it never
//! sits whole in memory and nothing of it is kept unless it hashes to its CID.

mod gateway;

pub use gateway::HttpGateway;

use sha2::{Digest, Sha256};
use std::{
	fs,
	io::{Read, Seek, Write},
	path::{Path, PathBuf},
};
use tea_primitives::ContentId;

/// The name prefix of a blob being received.
const PARTIAL: &str = ".partial-";

/// Content store errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
	/// Not in the store (and no fetcher had it).
	#[error("blob {0} is not in the content store")]
	Missing(String),
	/// The stored bytes do not hash to their CID.
	#[error("blob {0} is corrupt or was tampered with: its bytes do not hash to its CID")]
	Corrupt(String),
	/// A fetcher returned bytes that do not hash to the CID asked for.
	#[error("fetched bytes for {0} do not hash to that CID")]
	FetchedWrongBytes(String),
	/// A fetcher failed.
	#[error("cannot fetch {cid}: {reason}")]
	Fetch {
		/// The CID asked for.
		cid: String,
		/// What went wrong.
		reason: String,
	},
	/// The blob is larger than the caller allows.
	#[error("blob {cid} is {size} bytes, more than the {limit} allowed")]
	TooLarge {
		/// The CID.
		cid: String,
		/// Its size.
		size: u64,
		/// The limit.
		limit: u64,
	},
	/// A file system error.
	#[error("content store I/O error at {path}: {source}")]
	Io {
		/// Where.
		path: PathBuf,
		/// What.
		source: std::io::Error,
	},
}

/// Fetches the bytes of a CID from somewhere else (a gateway, peers).
pub trait Fetcher: Send + Sync {
	/// The bytes of `cid`, unverified (the store verifies them).
	fn fetch(&self, cid: &ContentId, max_size: u64) -> Result<Vec<u8>, String>;
}

/// A content-addressed blob store in a directory.
pub struct ContentStore {
	dir: PathBuf,
	fetcher: Option<Box<dyn Fetcher>>,
}

impl ContentStore {
	/// Opens (creating if needed) the store at `<data_dir>/blobs`.
	pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
		let dir = data_dir.join("blobs");
		fs::create_dir_all(&dir).map_err(|source| StoreError::Io { path: dir.clone(), source })?;
		// Blobs a crash left half received (an hour old: not one being received now).
		if let Ok(entries) = fs::read_dir(&dir) {
			for entry in entries.flatten() {
				let partial = entry.file_name().to_string_lossy().starts_with(PARTIAL);
				let old = entry
					.metadata()
					.and_then(|m| m.modified())
					.is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 3600));
				if partial && old {
					let _ = fs::remove_file(entry.path());
				}
			}
		}
		Ok(Self { dir, fetcher: None })
	}

	/// Uses `fetcher` for blobs that are not stored locally.
	pub fn with_fetcher(mut self, fetcher: impl Fetcher + 'static) -> Self {
		self.fetcher = Some(Box::new(fetcher));
		self
	}

	fn path(&self, cid: &ContentId) -> PathBuf {
		self.dir.join(cid.to_text())
	}

	/// Stores `bytes` and returns their CID. Idempotent.
	pub fn put(&self, bytes: &[u8]) -> Result<ContentId, StoreError> {
		let cid = ContentId::of(bytes);
		let path = self.path(&cid);
		if path.exists() {
			return Ok(cid);
		}
		let io = |source| StoreError::Io { path: path.clone(), source };
		let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(io)?;
		tmp.write_all(bytes).map_err(io)?;
		tmp.as_file().sync_all().map_err(io)?;
		tmp.persist(&path).map_err(|e| io(e.error))?;
		// Make the rename itself durable.
		if let Ok(dir) = fs::File::open(&self.dir) {
			let _ = dir.sync_all();
		}
		Ok(cid)
	}

	/// Imports the file at `path`; returns its CID.
	pub fn import_file(&self, path: &Path) -> Result<ContentId, StoreError> {
		let bytes =
			fs::read(path).map_err(|source| StoreError::Io { path: path.to_owned(), source })?;
		self.put(&bytes)
	}

	/// Whether `cid` is stored locally (not verified).
	pub fn contains(&self, cid: &ContentId) -> bool {
		self.path(cid).exists()
	}

	/// The verified bytes of `cid`, fetching them if needed; at most `max_size` bytes.
	pub fn get(&self, cid: &ContentId, max_size: u64) -> Result<Vec<u8>, StoreError> {
		let path = self.path(cid);
		match fs::metadata(&path) {
			Ok(meta) => {
				if meta.len() > max_size {
					return Err(StoreError::TooLarge {
						cid: cid.to_text(),
						size: meta.len(),
						limit: max_size,
					});
				}
				let bytes = fs::read(&path)
					.map_err(|source| StoreError::Io { path: path.clone(), source })?;
				if !cid.matches(&bytes) {
					// Keep the evidence, never serve it again.
					let _ = fs::rename(&path, path.with_extension("corrupt"));
					tracing::warn!(target: "tea::store", cid = %cid.to_text(), "corrupt blob moved aside");
					return Err(StoreError::Corrupt(cid.to_text()));
				}
				Ok(bytes)
			}
			Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.fetch(cid, max_size),
			Err(source) => Err(StoreError::Io { path, source }),
		}
	}

	/// `len` bytes of `cid` from `offset` on (fewer at its end) and its size, read from disk
	/// without loading the rest; `None` if it is not stored. Not verified here: whoever
	/// receives the chunks verifies the whole.
	pub fn read_at(
		&self,
		cid: &ContentId,
		offset: u64,
		len: u32,
	) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
		let path = self.path(cid);
		let io = |source| StoreError::Io { path: path.clone(), source };
		let mut file = match fs::File::open(&path) {
			Ok(file) => file,
			Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
			Err(e) => return Err(io(e)),
		};
		let total = file.metadata().map_err(io)?.len();
		let len = u64::from(len).min(total.saturating_sub(offset));
		let mut bytes = Vec::with_capacity(len as usize);
		file.seek(std::io::SeekFrom::Start(offset.min(total))).map_err(io)?;
		file.take(len).read_to_end(&mut bytes).map_err(io)?;
		Ok(Some((total, bytes)))
	}

	/// A writer for `cid`'s bytes as they arrive: they go to a temporary file in the store and
	/// are hashed on the way; [`BlobWriter::finish`] keeps them only if they hash to `cid`.
	pub fn writer(&self, cid: &ContentId) -> Result<BlobWriter, StoreError> {
		let io = |source| StoreError::Io { path: self.dir.clone(), source };
		Ok(BlobWriter {
			file: tempfile::Builder::new().prefix(PARTIAL).tempfile_in(&self.dir).map_err(io)?,
			hasher: Sha256::new(),
			written: 0,
			cid: cid.clone(),
			dest: self.path(cid),
			dir: self.dir.clone(),
		})
	}

	/// Copies the stored blob `cid` (at most `max_size` bytes) to the file `dest` with the
	/// permission bits `mode`, hashing on the way: `dest` appears whole (temporary file in its
	/// directory, fsync, rename) and only if the bytes hash to `cid` (a blob that does not is
	/// moved aside, as [`get`](Self::get) does). For blobs too large to hold in memory.
	pub fn export(
		&self,
		cid: &ContentId,
		dest: &Path,
		max_size: u64,
		mode: u32,
	) -> Result<(), StoreError> {
		use std::os::unix::fs::PermissionsExt as _;
		let path = self.path(cid);
		let mut from = match fs::File::open(&path) {
			Ok(file) => file,
			Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
				return Err(StoreError::Missing(cid.to_text()))
			}
			Err(source) => return Err(StoreError::Io { path, source }),
		};
		let size =
			from.metadata().map_err(|source| StoreError::Io { path: path.clone(), source })?;
		if size.len() > max_size {
			return Err(StoreError::TooLarge {
				cid: cid.to_text(),
				size: size.len(),
				limit: max_size,
			});
		}
		let dir = dest.parent().unwrap_or(Path::new("."));
		let out = |source| StoreError::Io { path: dest.to_owned(), source };
		let mut tmp = tempfile::Builder::new().prefix(PARTIAL).tempfile_in(dir).map_err(out)?;
		let mut hasher = Sha256::new();
		let mut buffer = vec![0u8; 1 << 16];
		// Bounded by what was checked, should the file grow while it is read.
		let (mut from, mut total) = ((&mut from).take(max_size.saturating_add(1)), 0u64);
		loop {
			let n = from
				.read(&mut buffer)
				.map_err(|source| StoreError::Io { path: path.clone(), source })?;
			if n == 0 {
				break;
			}
			total = total.saturating_add(n as u64);
			if total > max_size {
				return Err(StoreError::TooLarge {
					cid: cid.to_text(),
					size: total,
					limit: max_size,
				});
			}
			hasher.update(&buffer[..n]);
			tmp.write_all(&buffer[..n]).map_err(out)?;
		}
		if hasher.finalize().as_slice() != cid.digest() {
			let _ = fs::rename(&path, path.with_extension("corrupt"));
			tracing::warn!(target: "tea::store", cid = %cid.to_text(), "corrupt blob moved aside");
			return Err(StoreError::Corrupt(cid.to_text()));
		}
		tmp.as_file().set_permissions(fs::Permissions::from_mode(mode)).map_err(out)?;
		tmp.as_file().sync_all().map_err(out)?;
		tmp.persist(dest).map_err(|e| out(e.error))?;
		if let Ok(dir) = fs::File::open(dir) {
			let _ = dir.sync_all();
		}
		Ok(())
	}

	/// Stores the file at `path`, which must hash to `cid`, without holding it in memory.
	pub fn import_as(&self, cid: &ContentId, path: &Path) -> Result<(), StoreError> {
		if self.contains(cid) {
			return Ok(());
		}
		let io = |source| StoreError::Io { path: path.to_owned(), source };
		let mut from = fs::File::open(path).map_err(io)?;
		let mut writer = self.writer(cid)?;
		let mut buffer = vec![0u8; 1 << 16];
		loop {
			match from.read(&mut buffer).map_err(io)? {
				0 => break,
				n => writer.write(&buffer[..n])?,
			}
		}
		writer.finish().map(|_| ())
	}

	fn fetch(&self, cid: &ContentId, max_size: u64) -> Result<Vec<u8>, StoreError> {
		let Some(fetcher) = &self.fetcher else {
			return Err(StoreError::Missing(cid.to_text()));
		};
		let bytes = fetcher
			.fetch(cid, max_size)
			.map_err(|reason| StoreError::Fetch { cid: cid.to_text(), reason })?;
		if !cid.matches(&bytes) {
			return Err(StoreError::FetchedWrongBytes(cid.to_text()));
		}
		self.put(&bytes)?;
		Ok(bytes)
	}
}

/// A blob being received: bytes are hashed and written to a temporary file; dropped without
/// [`BlobWriter::finish`], nothing is kept.
pub struct BlobWriter {
	file: tempfile::NamedTempFile,
	hasher: Sha256,
	written: u64,
	cid: ContentId,
	dest: PathBuf,
	dir: PathBuf,
}

impl BlobWriter {
	/// Appends `bytes`.
	pub fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
		self.hasher.update(bytes);
		self.written += bytes.len() as u64;
		let path = self.file.path().to_owned();
		self.file.write_all(bytes).map_err(|source| StoreError::Io { path, source })
	}

	/// Bytes written so far.
	pub fn written(&self) -> u64 {
		self.written
	}

	/// Stores the blob if what was written hashes to its CID ([`StoreError::FetchedWrongBytes`]
	/// otherwise, and the temporary file is removed).
	pub fn finish(self) -> Result<ContentId, StoreError> {
		if self.hasher.finalize().as_slice() != self.cid.digest() {
			return Err(StoreError::FetchedWrongBytes(self.cid.to_text()));
		}
		let io = |source| StoreError::Io { path: self.dest.clone(), source };
		self.file.as_file().sync_all().map_err(io)?;
		self.file.persist(&self.dest).map_err(|e| io(e.error))?;
		if let Ok(dir) = fs::File::open(&self.dir) {
			let _ = dir.sync_all();
		}
		Ok(self.cid)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	struct FixedFetcher(Vec<u8>);
	impl Fetcher for FixedFetcher {
		fn fetch(&self, _: &ContentId, _: u64) -> Result<Vec<u8>, String> {
			Ok(self.0.clone())
		}
	}

	#[test]
	fn put_get_round_trip_and_survive_reopen() {
		let dir = tempfile::tempdir().unwrap();
		let cid = ContentStore::open(dir.path()).unwrap().put(b"hello").unwrap();
		assert_eq!(cid, ContentId::of(b"hello"));
		let store = ContentStore::open(dir.path()).unwrap();
		assert_eq!(store.get(&cid, 100).unwrap(), b"hello");
		assert!(matches!(store.get(&cid, 2), Err(StoreError::TooLarge { size: 5, .. })));
		assert!(matches!(store.get(&ContentId::of(b"absent"), 100), Err(StoreError::Missing(_))));
	}

	#[test]
	fn a_blob_is_exported_to_an_executable_file_only_whole_and_verified() {
		use std::os::unix::fs::PermissionsExt as _;
		let dir = tempfile::tempdir().unwrap();
		let store = ContentStore::open(dir.path()).unwrap();
		let blob: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
		let source = dir.path().join("build");
		fs::write(&source, &blob).unwrap();
		let cid = ContentId::of(&blob);
		// Imported under the wrong CID: refused, nothing kept.
		let wrong = ContentId::of(b"another build");
		assert!(matches!(store.import_as(&wrong, &source), Err(StoreError::FetchedWrongBytes(_))));
		assert!(!store.contains(&wrong));
		store.import_as(&cid, &source).unwrap();
		assert!(store.contains(&cid));

		let dest = dir.path().join("out");
		assert!(matches!(
			store.export(&cid, &dest, 1000, 0o700),
			Err(StoreError::TooLarge { size: 200_000, limit: 1000, .. })
		));
		assert!(!dest.exists());
		store.export(&cid, &dest, 1 << 20, 0o700).unwrap();
		assert_eq!(fs::read(&dest).unwrap(), blob);
		assert_eq!(fs::metadata(&dest).unwrap().permissions().mode() & 0o777, 0o700);
		assert!(matches!(
			store.export(&wrong, &dir.path().join("x"), 1 << 20, 0o700),
			Err(StoreError::Missing(_))
		));

		// A stored blob changed on disk is never exported, and is moved aside.
		fs::write(dir.path().join("blobs").join(cid.to_text()), b"tampered").unwrap();
		let again = dir.path().join("again");
		assert!(matches!(store.export(&cid, &again, 1 << 20, 0o700), Err(StoreError::Corrupt(_))));
		assert!(!again.exists() && !store.contains(&cid));
		let partial = fs::read_dir(dir.path()).unwrap().filter_map(Result::ok);
		assert!(
			!partial.into_iter().any(|e| e.file_name().to_string_lossy().starts_with(PARTIAL)),
			"no temporary file is left"
		);
	}

	#[test]
	fn tampered_blobs_are_refused_and_moved_aside() {
		let dir = tempfile::tempdir().unwrap();
		let store = ContentStore::open(dir.path()).unwrap();
		let cid = store.put(b"original").unwrap();
		fs::write(dir.path().join("blobs").join(cid.to_text()), b"tampered").unwrap();
		assert!(matches!(store.get(&cid, 100), Err(StoreError::Corrupt(_))));
		assert!(!store.contains(&cid), "moved aside");
	}

	#[test]
	fn fetched_bytes_are_verified_before_they_are_stored() {
		let dir = tempfile::tempdir().unwrap();
		let cid = ContentId::of(b"wanted");
		let liar =
			ContentStore::open(dir.path()).unwrap().with_fetcher(FixedFetcher(b"evil".to_vec()));
		assert!(matches!(liar.get(&cid, 100), Err(StoreError::FetchedWrongBytes(_))));
		assert!(!liar.contains(&cid));
		let honest =
			ContentStore::open(dir.path()).unwrap().with_fetcher(FixedFetcher(b"wanted".to_vec()));
		assert_eq!(honest.get(&cid, 100).unwrap(), b"wanted");
		assert!(honest.contains(&cid), "cached after a verified fetch");
	}

	#[test]
	fn chunks_are_read_in_place_and_written_blobs_are_kept_only_if_they_hash_to_their_cid() {
		let dir = tempfile::tempdir().unwrap();
		let store = ContentStore::open(dir.path()).unwrap();
		let blob: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
		let cid = store.put(&blob).unwrap();
		assert_eq!(store.read_at(&cid, 0, 4096).unwrap(), Some((10_000, blob[..4096].to_vec())));
		assert_eq!(
			store.read_at(&cid, 9_000, 4096).unwrap(),
			Some((10_000, blob[9_000..].to_vec()))
		);
		assert_eq!(store.read_at(&cid, 20_000, 4096).unwrap(), Some((10_000, vec![])));
		assert_eq!(store.read_at(&ContentId::of(b"absent"), 0, 1).unwrap(), None);

		let other = tempfile::tempdir().unwrap();
		let receiver = ContentStore::open(other.path()).unwrap();
		let mut w = receiver.writer(&cid).unwrap();
		for chunk in blob.chunks(3000) {
			w.write(chunk).unwrap();
		}
		assert_eq!(w.written(), 10_000);
		assert_eq!(w.finish().unwrap(), cid);
		assert_eq!(receiver.get(&cid, 20_000).unwrap(), blob);

		// Wrong bytes: refused, and nothing is left in the store, not even the temporary file.
		let wanted = ContentId::of(b"wanted");
		let mut w = receiver.writer(&wanted).unwrap();
		w.write(b"evil").unwrap();
		assert!(matches!(w.finish(), Err(StoreError::FetchedWrongBytes(_))));
		assert!(!receiver.contains(&wanted));
		let w = receiver.writer(&wanted).unwrap();
		drop(w);
		let left: Vec<_> = fs::read_dir(other.path().join("blobs")).unwrap().collect();
		assert_eq!(left.len(), 1, "only the verified blob: {left:?}");
	}
}
