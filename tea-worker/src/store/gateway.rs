//! Fetching blobs from an IPFS-style HTTP path gateway: `GET <base>/ipfs/<cid>`.
//!
//! hyper's HTTP/1.1 client over plain `http://`: gateways for workers run on the operator's
//! network, and the store verifies every byte against the CID anyway. A gateway is still input
//! we do not control, so every fetch is bounded: one deadline for connecting, the response head
//! and the body together; a cap on the size of the response head; the body refused as soon as
//! it grows past the size asked for, however it is framed (`Content-Length`, chunked, or
//! read-to-close).

use super::Fetcher;
use http_body_util::{BodyExt, Empty};
use hyper::{
	body::{Body, Bytes},
	client::conn::http1,
	header, Request, StatusCode,
};
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tea_primitives::ContentId;

/// The most a response head (status line and headers) may take: gateways send a few hundred
/// bytes; an endless header line is refused once it gets this long.
const MAX_HEAD_SIZE: usize = 16 * 1024;
/// The most header fields a response may have.
const MAX_HEADERS: usize = 64;
/// The most memory reserved for a body before its bytes arrive: a claimed `Content-Length` is
/// believed only this far, beyond it the buffer grows with the bytes actually received.
const MAX_PREALLOCATION: u64 = 1 << 20;

/// An HTTP gateway at `base` (e.g. `http://127.0.0.1:8080`).
///
/// [`Fetcher::fetch`] blocks the calling thread until the blob is in or the timeout given to
/// [`HttpGateway::new`] has passed, whichever comes first. It may be called from any thread,
/// including from inside a tokio runtime: each fetch runs on a thread of its own with a
/// current-thread runtime of its own, so runtimes never nest. In async code, prefer
/// `tokio::task::spawn_blocking`: a direct call holds a runtime worker for up to the timeout.
pub struct HttpGateway {
	/// Where to connect: a host name or an IP address (IPv6 without brackets).
	host: String,
	port: u16,
	/// The `Host` header: the host as written in the URL, with its port unless that is 80.
	authority: String,
	path_prefix: String,
	timeout: Duration,
}

impl HttpGateway {
	/// A gateway at `base`; only `http://` URLs are supported. `timeout` bounds each whole
	/// fetch: connecting, the response head and the body.
	pub fn new(base: &str, timeout: Duration) -> Result<Self, String> {
		let url = url::Url::parse(base).map_err(|e| format!("bad gateway URL {base:?}: {e}"))?;
		if url.scheme() != "http" {
			return Err(format!("gateway URL {base:?}: only http:// gateways are supported"));
		}
		let (host, written) = match (url.host(), url.host_str()) {
			(Some(url::Host::Ipv6(ip)), Some(written)) => (ip.to_string(), written),
			(Some(_), Some(written)) => (written.to_owned(), written),
			_ => return Err(format!("gateway URL {base:?} has no host")),
		};
		let authority = match url.port() {
			Some(port) => format!("{written}:{port}"),
			None => written.to_owned(),
		};
		Ok(Self {
			host,
			port: url.port().unwrap_or(80),
			authority,
			path_prefix: url.path().trim_end_matches('/').to_owned(),
			timeout,
		})
	}

	/// `GET path`, on a thread and runtime of its own (see [`HttpGateway`]), under the deadline.
	fn get(&self, path: &str, max_size: u64) -> Result<Vec<u8>, String> {
		std::thread::scope(|scope| {
			let fetch = std::thread::Builder::new()
				.name("tea-gateway".into())
				.spawn_scoped(scope, || {
					let runtime = tokio::runtime::Builder::new_current_thread()
						.enable_all()
						.build()
						.map_err(|e| format!("cannot start the gateway client: {e}"))?;
					let outcome = runtime.block_on(async {
						tokio::time::timeout(self.timeout, self.request(path, max_size))
							.await
							.unwrap_or_else(|_| {
								Err(format!(
									"gateway {} did not answer in full within {:?}",
									self.authority, self.timeout
								))
							})
					});
					// A name lookup still running on the blocking pool must not outlast the
					// deadline: leave it behind instead of waiting for it.
					runtime.shutdown_background();
					outcome
				})
				.map_err(|e| format!("cannot start the gateway client thread: {e}"))?;
			fetch.join().map_err(|_| "the gateway client thread panicked".to_owned())?
		})
	}

	/// One request on a fresh connection; the caller puts the deadline around it.
	async fn request(&self, path: &str, max_size: u64) -> Result<Vec<u8>, String> {
		let gateway = &self.authority;
		let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
			.await
			.map_err(|e| format!("cannot connect to {gateway}: {e}"))?;
		let (mut sender, connection) = http1::Builder::new()
			.max_header_size(MAX_HEAD_SIZE)
			.max_headers(MAX_HEADERS)
			.handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
			.await
			.map_err(|e| format!("cannot speak HTTP to {gateway}: {}", causes(&e)))?;
		// The connection does the reading and writing; its errors reach the response or the
		// body below, and it ends with this runtime at the latest.
		tokio::spawn(connection);

		let request = Request::get(path)
			.header(header::HOST, gateway)
			.header(header::ACCEPT, "application/octet-stream")
			.header(header::CONNECTION, "close")
			.body(Empty::new())
			.map_err(|e| format!("cannot ask {gateway} for {path:?}: {e}"))?;
		let response = sender
			.send_request(request)
			.await
			.map_err(|e| format!("no valid answer from {gateway}: {}", causes(&e)))?;
		if response.status() != StatusCode::OK {
			return Err(format!("gateway answered HTTP {}", response.status()));
		}

		let mut body = response.into_body();
		// The Content-Length, when there is one: refused before any byte is read.
		let claimed = body.size_hint().lower();
		if claimed > max_size {
			return Err(format!("body larger than {max_size} bytes (Content-Length {claimed})"));
		}
		let reserve = usize::try_from(claimed.min(MAX_PREALLOCATION)).unwrap_or(0);
		let mut bytes = Vec::with_capacity(reserve);
		while let Some(frame) = body.frame().await {
			let frame = frame.map_err(|e| format!("cannot read the body: {}", causes(&e)))?;
			// Trailers carry nothing we use.
			let Ok(data) = frame.into_data() else { continue };
			let total = bytes
				.len()
				.checked_add(data.len())
				.and_then(|total| u64::try_from(total).ok())
				.unwrap_or(u64::MAX);
			if total > max_size {
				return Err(format!("body larger than {max_size} bytes ({total} received)"));
			}
			bytes.extend_from_slice(&data);
		}
		Ok(bytes)
	}
}

impl Fetcher for HttpGateway {
	fn fetch(&self, cid: &ContentId, max_size: u64) -> Result<Vec<u8>, String> {
		self.get(&format!("{}/ipfs/{}", self.path_prefix, cid.to_text()), max_size)
	}
}

/// `error` and its causes, outermost first: hyper's own messages are terse ("error reading a
/// body from connection"); the causes say what happened.
fn causes(error: &dyn std::error::Error) -> String {
	let mut text = error.to_string();
	let mut cause = error.source();
	while let Some(inner) = cause {
		text.push_str(": ");
		text.push_str(&inner.to_string());
		cause = inner.source();
	}
	text
}

#[cfg(test)]
mod tests {
	use super::*;
	use std::{
		io::{Read, Write},
		net::{TcpListener, TcpStream},
		thread::JoinHandle,
		time::Instant,
	};

	/// A one-shot server on loopback: accepts one connection, reads the request head, then
	/// hands the stream to `behave`. Every actor here stops by itself (a bounded number of bytes
	/// or seconds, or the first failed write once the client hung up).
	fn serve_once_with<T: Send + 'static>(
		behave: impl FnOnce(&mut TcpStream) -> T + Send + 'static,
	) -> (String, JoinHandle<(String, T)>) {
		let listener = TcpListener::bind("127.0.0.1:0").unwrap();
		let base = format!("http://{}", listener.local_addr().unwrap());
		let handle = std::thread::spawn(move || {
			let (mut stream, _) = listener.accept().unwrap();
			stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
			stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
			let mut request = Vec::new();
			let mut buf = [0u8; 1024];
			while !request.ends_with(b"\r\n\r\n") && request.len() < 64 * 1024 {
				match stream.read(&mut buf) {
					Ok(0) | Err(_) => break,
					Ok(n) => request.extend_from_slice(&buf[..n]),
				}
			}
			let outcome = behave(&mut stream);
			(String::from_utf8_lossy(&request).into_owned(), outcome)
		});
		(base, handle)
	}

	/// A one-shot server that answers with `response` and closes.
	fn serve_once(response: Vec<u8>) -> (String, JoinHandle<(String, ())>) {
		serve_once_with(move |stream| {
			// The client may hang up early (that is what some tests check).
			let _ = stream.write_all(&response);
		})
	}

	/// Sends `prefix`, then one byte every `every` (`count` of them), stopping early once the
	/// client hangs up: a gateway that is never silent long enough for a per-read timeout.
	fn trickle(
		prefix: &'static [u8],
		count: usize,
		every: Duration,
	) -> (String, JoinHandle<(String, ())>) {
		serve_once_with(move |stream| {
			if stream.write_all(prefix).is_err() {
				return;
			}
			for _ in 0..count {
				std::thread::sleep(every);
				if stream.write_all(b"a").is_err() {
					return;
				}
			}
		})
	}

	fn fetch(base: &str, timeout: Duration, max_size: u64) -> Result<Vec<u8>, String> {
		HttpGateway::new(base, timeout).unwrap().fetch(&ContentId::of(b"x"), max_size)
	}

	#[test]
	fn fetches_with_content_length_and_chunked_bodies() {
		let cid = ContentId::of(b"hello");
		let (base, server) =
			serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec());
		let gateway = HttpGateway::new(&base, Duration::from_secs(5)).unwrap();
		assert_eq!(gateway.fetch(&cid, 100).unwrap(), b"hello");
		let (request, ()) = server.join().unwrap();
		assert!(request.starts_with(&format!("GET /ipfs/{} HTTP/1.1", cid.to_text())), "{request}");

		let (base, _) = serve_once(
			b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n".to_vec(),
		);
		let gateway = HttpGateway::new(&base, Duration::from_secs(5)).unwrap();
		assert_eq!(gateway.fetch(&cid, 100).unwrap(), b"hello");
	}

	#[test]
	fn errors_are_clear() {
		let cid = ContentId::of(b"x");
		let (base, _) = serve_once(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec());
		let err =
			HttpGateway::new(&base, Duration::from_secs(5)).unwrap().fetch(&cid, 10).unwrap_err();
		assert!(err.contains("HTTP 404"), "{err}");
		let (base, _) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n".to_vec());
		let err =
			HttpGateway::new(&base, Duration::from_secs(5)).unwrap().fetch(&cid, 10).unwrap_err();
		assert!(err.contains("larger than 10"), "{err}");
		assert!(HttpGateway::new("https://example.org", Duration::from_secs(1)).is_err());
		assert!(HttpGateway::new("not a url", Duration::from_secs(1)).is_err());
		let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
		let err = HttpGateway::new(&format!("http://{closed}"), Duration::from_secs(1))
			.unwrap()
			.fetch(&cid, 10)
			.unwrap_err();
		assert!(err.contains("cannot connect"), "{err}");
	}

	/// Review finding (a): a chunk size near `u64::MAX` after a first chunk overflowed the
	/// running total (`body.len() as u64 + size`).
	#[test]
	fn a_huge_chunk_size_is_an_error_not_a_panic() {
		for chunks in [
			&b"1\r\na\r\nffffffffffffffff\r\n"[..],
			b"ffffffffffffffff\r\naaaa",
			b"fffffffffffffffff0\r\n",
		] {
			let mut response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
			response.extend_from_slice(chunks);
			let (base, _) = serve_once(response);
			let outcome = std::panic::catch_unwind(|| fetch(&base, Duration::from_secs(5), 100));
			let err = outcome
				.unwrap_or_else(|_| {
					panic!("fetch panicked on chunks {:?}", String::from_utf8_lossy(chunks))
				})
				.unwrap_err();
			assert!(!err.is_empty());
		}
	}

	/// Review finding (b): the status line and headers were read with an unbounded
	/// `read_line`, so one endless header line was buffered without limit.
	#[test]
	fn an_endless_header_line_is_refused_early() {
		const AT_MOST: usize = 64 << 20;
		let (base, server) = serve_once_with(|stream| {
			let mut sent = 0;
			if stream.write_all(b"HTTP/1.1 200 OK\r\nX-Endless: ").is_ok() {
				let block = [b'a'; 64 * 1024];
				while sent < AT_MOST && stream.write_all(&block).is_ok() {
					sent += block.len();
				}
			}
			sent
		});
		let outcome = fetch(&base, Duration::from_secs(20), 100);
		let (_, sent) = server.join().unwrap();
		let err = outcome.expect_err(&format!("the client accepted a {sent}-byte header line"));
		assert!(err.contains("too large"), "{err}");
		// What the kernel buffers on loopback, not what the client read and kept.
		assert!(sent < AT_MOST / 4, "the client swallowed {sent} bytes of one header line");
	}

	/// Review finding (c): a per-read timeout never fires for a gateway that sends one byte
	/// at a time; the deadline covers the whole fetch.
	#[test]
	fn a_trickling_gateway_hits_the_total_deadline() {
		let deadline = Duration::from_secs(1);
		for prefix in [
			&b"HTTP/1.1 200 OK\r\nX-Slow: "[..],
			b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
			b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n",
			b"HTTP/1.1 200 OK\r\n\r\n",
		] {
			let (base, _) = trickle(prefix, 40, Duration::from_millis(200));
			let started = Instant::now();
			let outcome = fetch(&base, deadline, 10_000);
			let elapsed = started.elapsed();
			let what = String::from_utf8_lossy(prefix);
			let err = outcome.expect_err(&format!("{what:?}: accepted after {elapsed:?}"));
			assert!(elapsed < deadline + Duration::from_secs(2), "{what:?}: took {elapsed:?}");
			assert!(err.contains("within"), "{what:?}: {err}");
		}
	}

	#[test]
	fn bodies_over_max_size_are_refused() {
		for (response, max_size) in [
			(&b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"[..], 10),
			(b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551613\r\n\r\nhello", 10),
			(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 10),
			(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n", 10),
			(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello world", 10),
		] {
			let (base, _) = serve_once(response.to_vec());
			let what = String::from_utf8_lossy(response);
			let err = fetch(&base, Duration::from_secs(5), max_size)
				.expect_err(&format!("{what:?} accepted"));
			assert!(err.contains("larger than 10"), "{what:?}: {err}");
		}
		// Exactly `max_size` is fine, however it is framed.
		for response in [
			&b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhelloworld"[..],
			b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n",
			b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhelloworld",
		] {
			let (base, _) = serve_once(response.to_vec());
			assert_eq!(fetch(&base, Duration::from_secs(5), 10).unwrap(), b"helloworld");
		}
	}

	#[test]
	fn a_gateway_that_hangs_up_mid_body_is_an_error() {
		for response in [
			&b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"[..],
			b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
			b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nhello",
			b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n",
		] {
			let (base, _) = serve_once(response.to_vec());
			let what = String::from_utf8_lossy(response);
			fetch(&base, Duration::from_secs(5), 100).expect_err(&format!("{what:?} accepted"));
		}
	}

	/// The trait is sync; workers call it from async code too (a tokio worker thread, or
	/// `spawn_blocking`): neither may panic with "Cannot start a runtime from within a runtime".
	#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
	async fn fetches_from_inside_a_tokio_runtime() {
		let (base, _) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec());
		assert_eq!(fetch(&base, Duration::from_secs(5), 100).unwrap(), b"hello");
		let (base, _) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec());
		let fetched =
			tokio::task::spawn_blocking(move || fetch(&base, Duration::from_secs(5), 100));
		assert_eq!(fetched.await.unwrap().unwrap(), b"hello");
	}

	#[tokio::test]
	async fn fetches_from_inside_a_current_thread_runtime() {
		let (base, _) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec());
		assert_eq!(fetch(&base, Duration::from_secs(5), 100).unwrap(), b"hello");
	}
}
