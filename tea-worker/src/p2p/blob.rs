//! `/tea/blob/1`: blobs by CID between registered workers.
//!
//! A worker serves the blobs its content store holds (release code it fetched, verified and
//! stored) to the peers its endpoint allows (registered nodes); nobody else gets a connection.
//! A blob travels in chunks of at most [`CHUNK`] bytes, one request each, a few in flight at
//! a time, so neither side ever holds more than a few chunks of it in memory: the receiver hashes every chunk into a temporary
//! file of its store ([`crate::store::BlobWriter`]) and keeps the blob only if the whole hashes
//! to its CID. A peer that serves wrong bytes, or answers inconsistently (another size, a chunk
//! of the wrong length, a frame that does not decode), is dropped: disconnected and not asked
//! again for [`super::DROP_FOR`]; nothing it sent is kept.
//!
//! Frames are a 4-byte big-endian length and a SCALE body; a frame longer than its kind allows
//! is an error before anything is allocated for it.

use super::{Network, P2pError};
use crate::store::{ContentStore, StoreError};
use codec::{Decode, DecodeAll, Encode};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use tea_primitives::ContentId;

/// The blob protocol.
pub const BLOB_PROTOCOL: StreamProtocol = StreamProtocol::new("/tea/blob/1");

/// Bytes per chunk at most.
pub const CHUNK: u32 = 256 * 1024;

/// A request frame at most (a CID and two integers).
const MAX_REQUEST_FRAME: usize = 128;
/// A response frame at most (a chunk and its header, or a reason).
const MAX_RESPONSE_FRAME: usize = CHUNK as usize + 1024;
/// A reason at most, in bytes.
const MAX_REASON: usize = 256;
/// `Later` answers from one peer in one fetch before it moves on to the next.
const MAX_LATER: u32 = 20;
/// A fetch from one peer must finish within this plus `max_size` at [`MIN_RATE`].
const FETCH_GRACE: std::time::Duration = std::time::Duration::from_secs(30);
/// The slowest transfer a fetch waits for, in bytes per second.
const MIN_RATE: u64 = 1 << 20;
/// Chunk requests in flight to one peer at most.
const WINDOW: usize = 2;
/// The pause before asking a busy peer again.
const LATER_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// Asks for `len` bytes of the blob `cid` from `offset` on.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ChunkRequest {
	/// The CID's binary form.
	pub cid: Vec<u8>,
	/// Where the chunk starts.
	pub offset: u64,
	/// How many bytes (at most [`CHUNK`]).
	pub len: u32,
}

/// The answer to a [`ChunkRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum ChunkResponse {
	/// The bytes from the requested offset (fewer than asked only at the blob's end) and the
	/// blob's size.
	Chunk {
		/// The whole blob's size.
		total: u64,
		/// The bytes.
		bytes: Vec<u8>,
	},
	/// This worker does not hold the blob.
	NotFound,
	/// Not now (too many requests): ask again later.
	Later {
		/// Why.
		reason: String,
	},
	/// A request this worker will not answer (a malformed CID, a chunk too large).
	Refused {
		/// Why.
		reason: String,
	},
}

/// What serves chunks: the content store, or a test's stand-in.
pub trait Source: Send + Sync + 'static {
	/// The answer to `request` (runs on a blocking thread).
	fn chunk(&self, request: &ChunkRequest) -> ChunkResponse;
}

impl Source for ContentStore {
	fn chunk(&self, request: &ChunkRequest) -> ChunkResponse {
		let Ok(cid) = ContentId::from_bytes(&request.cid) else {
			return ChunkResponse::Refused { reason: "not a CID".into() };
		};
		if request.len > CHUNK {
			return ChunkResponse::Refused { reason: format!("chunks are at most {CHUNK} bytes") };
		}
		match self.read_at(&cid, request.offset, request.len) {
			Ok(Some((total, bytes))) => ChunkResponse::Chunk { total, bytes },
			Ok(None) => ChunkResponse::NotFound,
			Err(e) => {
				tracing::error!(target: super::LOG_TARGET, error = %e, "a blob could not be read");
				ChunkResponse::Later { reason: "the blob could not be read".into() }
			}
		}
	}
}

/// The codec of [`BLOB_PROTOCOL`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Codec;

async fn read_frame<T: AsyncRead + Unpin + Send>(
	io: &mut T,
	max: usize,
) -> std::io::Result<Vec<u8>> {
	let mut len = [0u8; 4];
	io.read_exact(&mut len).await?;
	let len = u32::from_be_bytes(len) as usize;
	if len > max {
		return Err(std::io::Error::new(
			std::io::ErrorKind::InvalidData,
			format!("a frame of {len} bytes (at most {max})"),
		));
	}
	let mut body = vec![0u8; len];
	io.read_exact(&mut body).await?;
	Ok(body)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, body: &[u8]) -> std::io::Result<()> {
	io.write_all(&(body.len() as u32).to_be_bytes()).await?;
	io.write_all(body).await?;
	io.close().await
}

fn decode<V: Decode>(body: &[u8]) -> std::io::Result<V> {
	V::decode_all(&mut &body[..])
		.map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
}

#[async_trait::async_trait]
impl libp2p::request_response::Codec for Codec {
	type Protocol = StreamProtocol;
	type Request = ChunkRequest;
	type Response = ChunkResponse;

	async fn read_request<T: AsyncRead + Unpin + Send>(
		&mut self,
		_: &StreamProtocol,
		io: &mut T,
	) -> std::io::Result<ChunkRequest> {
		decode(&read_frame(io, MAX_REQUEST_FRAME).await?)
	}

	async fn read_response<T: AsyncRead + Unpin + Send>(
		&mut self,
		_: &StreamProtocol,
		io: &mut T,
	) -> std::io::Result<ChunkResponse> {
		decode(&read_frame(io, MAX_RESPONSE_FRAME).await?)
	}

	async fn write_request<T: AsyncWrite + Unpin + Send>(
		&mut self,
		_: &StreamProtocol,
		io: &mut T,
		request: ChunkRequest,
	) -> std::io::Result<()> {
		write_frame(io, &request.encode()).await
	}

	async fn write_response<T: AsyncWrite + Unpin + Send>(
		&mut self,
		_: &StreamProtocol,
		io: &mut T,
		response: ChunkResponse,
	) -> std::io::Result<()> {
		let response = match response {
			ChunkResponse::Later { reason } => ChunkResponse::Later { reason: cut(reason) },
			ChunkResponse::Refused { reason } => ChunkResponse::Refused { reason: cut(reason) },
			other => other,
		};
		write_frame(io, &response.encode()).await
	}
}

fn cut(mut reason: String) -> String {
	if reason.len() > MAX_REASON {
		let mut end = MAX_REASON;
		while !reason.is_char_boundary(end) {
			end -= 1;
		}
		reason.truncate(end);
	}
	reason
}

/// Why a fetch from every peer failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
	/// No peer had it, or every one failed: what each said.
	#[error("no peer served {cid}: {}", .tried.iter().map(|(p, why)| format!("{p}: {why}")).collect::<Vec<_>>().join("; "))]
	NotServed {
		/// The CID.
		cid: String,
		/// Each peer tried and why it did not serve the blob.
		tried: Vec<(PeerId, String)>,
	},
	/// The local store failed.
	#[error(transparent)]
	Store(#[from] StoreError),
}

/// What a successful fetch did.
#[derive(Debug, Default)]
pub struct Fetched {
	/// The peer that served the blob.
	pub from: Option<PeerId>,
	/// Its size.
	pub size: u64,
	/// Peers dropped for serving wrong or inconsistent bytes (disconnected, not asked again
	/// for a while).
	pub dropped: Vec<PeerId>,
	/// Peers that did not have it or could not serve it now, and why.
	pub skipped: Vec<(PeerId, String)>,
}

/// How one peer's attempt ended.
enum Attempt {
	Stored(u64),
	/// Not there, busy, unreachable: nothing wrong with the peer.
	Skipped(String),
	/// Wrong or inconsistent bytes: the peer is dropped.
	Lied(String),
}

/// Fetches `cid` (at most `max_size` bytes) into `store` from the first of `peers` that serves
/// it, chunk by chunk. Already stored: nothing to do.
pub async fn fetch(
	network: &Network,
	store: &ContentStore,
	cid: &ContentId,
	max_size: u64,
	peers: &[(PeerId, Vec<Multiaddr>)],
) -> Result<Fetched, FetchError> {
	let mut fetched = Fetched::default();
	if store.contains(cid) {
		return Ok(fetched);
	}
	// A peer that keeps the fetch busy (answers `Later`, trickles) gets a bounded time.
	let deadline = FETCH_GRACE + std::time::Duration::from_secs(max_size / MIN_RATE);
	for (peer, addrs) in peers {
		let attempt =
			tokio::time::timeout(deadline, from_peer(network, store, cid, max_size, *peer, addrs))
				.await
				.unwrap_or_else(|_| {
					Ok(Attempt::Skipped(format!("not done within {} s", deadline.as_secs())))
				});
		match attempt? {
			Attempt::Stored(size) => {
				tracing::info!(target: super::LOG_TARGET, cid = %cid.to_text(), %peer, size, "blob fetched");
				fetched.from = Some(*peer);
				fetched.size = size;
				return Ok(fetched);
			}
			Attempt::Skipped(why) => fetched.skipped.push((*peer, why)),
			Attempt::Lied(why) => {
				tracing::warn!(target: super::LOG_TARGET, cid = %cid.to_text(), %peer, %why, "peer dropped");
				crate::metrics::refusal("blob_wrong_bytes");
				network.drop_peer(*peer).await;
				fetched.dropped.push(*peer);
				fetched.skipped.push((*peer, why));
			}
		}
	}
	Err(FetchError::NotServed { cid: cid.to_text(), tried: fetched.skipped })
}

async fn from_peer(
	network: &Network,
	store: &ContentStore,
	cid: &ContentId,
	max_size: u64,
	peer: PeerId,
	addrs: &[Multiaddr],
) -> Result<Attempt, FetchError> {
	use futures::StreamExt;
	let ask = |offset: u64| {
		let request = ChunkRequest { cid: cid.as_bytes().to_vec(), offset, len: CHUNK };
		async move { (offset, network.chunk(peer, addrs, request).await) }
	};
	// Dropped without `finish`, the temporary file goes with it.
	let mut writer = store.writer(cid)?;
	// The first chunk tells the size; then up to WINDOW chunks are asked for at once and
	// written in order (so at most WINDOW chunks are in memory).
	let mut in_flight = futures::stream::FuturesOrdered::new();
	in_flight.push_back(ask(0));
	let mut total = None;
	let mut next = u64::from(CHUNK);
	let mut later = 0;
	while let Some((offset, mut answer)) = in_flight.next().await {
		// Busy or over its rate: ask again shortly, a few times.
		while matches!(answer, Ok(ChunkResponse::Later { .. })) && later < MAX_LATER {
			later += 1;
			tokio::time::sleep(LATER_PAUSE).await;
			answer = ask(offset).await.1;
		}
		let (size, bytes) = match answer {
			Ok(ChunkResponse::Chunk { total, bytes }) => (total, bytes),
			Ok(ChunkResponse::NotFound) => return Ok(Attempt::Skipped("does not have it".into())),
			Ok(ChunkResponse::Later { reason }) => {
				return Ok(Attempt::Skipped(format!("later: {}", printable(&reason))))
			}
			Ok(ChunkResponse::Refused { reason }) => {
				return Ok(Attempt::Skipped(format!("refused: {}", printable(&reason))))
			}
			Err(P2pError::Malformed { reason, .. }) => {
				return Ok(Attempt::Lied(format!("a malformed answer: {reason}")))
			}
			Err(e) => return Ok(Attempt::Skipped(e.to_string())),
		};
		if size > max_size {
			return Ok(Attempt::Skipped(format!(
				"{size} bytes, more than the {max_size} accepted"
			)));
		}
		if total.is_some_and(|t| t != size) {
			return Ok(Attempt::Lied(format!("the size changed to {size} bytes")));
		}
		total = Some(size);
		let expected = u64::from(CHUNK).min(size.saturating_sub(offset));
		if bytes.len() as u64 != expected {
			return Ok(Attempt::Lied(format!(
				"a chunk of {} bytes at {offset} (expected {expected})",
				bytes.len()
			)));
		}
		debug_assert_eq!(offset, writer.written(), "chunks are written in order");
		// Disk writes (and the final fsync) off the async threads.
		writer = blocking(move || writer.write(&bytes).map(|()| writer)).await?;
		if writer.written() == size {
			return match blocking(move || writer.finish()).await {
				Ok(_) => Ok(Attempt::Stored(size)),
				Err(StoreError::FetchedWrongBytes(_)) => {
					Ok(Attempt::Lied("bytes that do not hash to the CID".into()))
				}
				Err(e) => Err(e.into()),
			};
		}
		while in_flight.len() < WINDOW && next < size {
			in_flight.push_back(ask(next));
			next += u64::from(CHUNK);
		}
	}
	// Unreachable with a consistent peer: the last chunk finishes the blob.
	Ok(Attempt::Lied("the chunks ended before the blob".into()))
}

/// Runs a store operation on a blocking thread.
async fn blocking<T: Send + 'static>(
	f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
	tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
		Err(StoreError::Io { path: Default::default(), source: std::io::Error::other(e) })
	})
}

/// A peer's text as it may appear in logs: control characters replaced, at most
/// `MAX_REASON` bytes.
fn printable(reason: &str) -> String {
	cut(reason.chars().map(|c| if c.is_control() { ' ' } else { c }).collect())
}

#[cfg(test)]
mod tests {
	use super::*;
	use libp2p::request_response::Codec as _;

	#[tokio::test]
	async fn frames_round_trip_and_oversized_frames_are_refused_before_allocation() {
		let mut codec = Codec;
		let request =
			ChunkRequest { cid: ContentId::of(b"x").as_bytes().to_vec(), offset: 7, len: CHUNK };
		let mut buf = Vec::new();
		codec.write_request(&BLOB_PROTOCOL, &mut buf, request.clone()).await.unwrap();
		let read = codec.read_request(&BLOB_PROTOCOL, &mut &buf[..]).await.unwrap();
		assert_eq!(read, request);

		// A length prefix of 4 GiB: an error, not an allocation.
		let mut hostile = u32::MAX.to_be_bytes().to_vec();
		hostile.extend_from_slice(&[0; 16]);
		let err = codec.read_response(&BLOB_PROTOCOL, &mut &hostile[..]).await.unwrap_err();
		assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
		// A request frame just over its bound.
		let mut long = (MAX_REQUEST_FRAME as u32 + 1).to_be_bytes().to_vec();
		long.extend(vec![0; MAX_REQUEST_FRAME + 1]);
		assert!(codec.read_request(&BLOB_PROTOCOL, &mut &long[..]).await.is_err());
		// A body with trailing bytes, or truncated.
		let mut trailing = Vec::new();
		let mut body = request.encode();
		body.push(0);
		write_frame(&mut trailing, &body).await.unwrap();
		assert!(codec.read_request(&BLOB_PROTOCOL, &mut &trailing[..]).await.is_err());
		assert!(codec.read_request(&BLOB_PROTOCOL, &mut &buf[..buf.len() - 1]).await.is_err());
		// A chunk length that claims more bytes than the frame holds.
		let mut lying = Vec::new();
		let mut body = vec![0u8]; // ChunkResponse::Chunk
		body.extend(5u64.encode());
		body.extend(codec::Compact(1_000_000u32).encode());
		write_frame(&mut lying, &body).await.unwrap();
		assert!(codec.read_response(&BLOB_PROTOCOL, &mut &lying[..]).await.is_err());
	}

	#[test]
	fn the_store_serves_chunks_and_refuses_malformed_requests() {
		let dir = tempfile::tempdir().unwrap();
		let store = ContentStore::open(dir.path()).unwrap();
		let cid = store.put(&[5; 1000]).unwrap();
		let ask = |cid: Vec<u8>, offset, len| store.chunk(&ChunkRequest { cid, offset, len });
		assert_eq!(
			ask(cid.as_bytes().to_vec(), 990, CHUNK),
			ChunkResponse::Chunk { total: 1000, bytes: vec![5; 10] }
		);
		assert_eq!(ask(ContentId::of(b"no").as_bytes().to_vec(), 0, 10), ChunkResponse::NotFound);
		assert!(matches!(ask(vec![1, 2, 3], 0, 10), ChunkResponse::Refused { .. }));
		assert!(matches!(
			ask(cid.as_bytes().to_vec(), 0, CHUNK + 1),
			ChunkResponse::Refused { .. }
		));
	}
}
