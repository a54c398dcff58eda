//! Fetching blobs from an IPFS-style HTTP path gateway: `GET <base>/ipfs/<cid>`.
//!
//! A small HTTP/1.1 client over `std::net` (plain `http://`, `Content-Length`, chunked or
//! read-to-close bodies): gateways for workers run on the operator's network; the store verifies
//! every byte against the CID anyway.

use super::Fetcher;
use std::{
	io::{BufRead, BufReader, Read, Write},
	net::TcpStream,
	time::Duration,
};
use tea_primitives::ContentId;

/// An HTTP gateway at `base` (e.g. `http://127.0.0.1:8080`).
pub struct HttpGateway {
	host: String,
	port: u16,
	path_prefix: String,
	timeout: Duration,
}

impl HttpGateway {
	/// A gateway at `base`; only `http://` URLs are supported.
	pub fn new(base: &str, timeout: Duration) -> Result<Self, String> {
		let url = url::Url::parse(base).map_err(|e| format!("bad gateway URL {base:?}: {e}"))?;
		if url.scheme() != "http" {
			return Err(format!("gateway URL {base:?}: only http:// gateways are supported"));
		}
		let host = url.host_str().ok_or_else(|| format!("gateway URL {base:?} has no host"))?;
		Ok(Self {
			host: host.to_owned(),
			port: url.port().unwrap_or(80),
			path_prefix: url.path().trim_end_matches('/').to_owned(),
			timeout,
		})
	}

	fn get(&self, path: &str, max_size: u64) -> Result<Vec<u8>, String> {
		let stream = TcpStream::connect((self.host.as_str(), self.port))
			.map_err(|e| format!("cannot connect to {}:{}: {e}", self.host, self.port))?;
		stream.set_read_timeout(Some(self.timeout)).map_err(|e| e.to_string())?;
		stream.set_write_timeout(Some(self.timeout)).map_err(|e| e.to_string())?;
		let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
		let request = format!(
			"GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/octet-stream\r\n\r\n",
			self.host
		);
		writer.write_all(request.as_bytes()).map_err(|e| format!("cannot send request: {e}"))?;

		let mut reader = BufReader::new(stream);
		let mut line = String::new();
		reader.read_line(&mut line).map_err(|e| format!("no response: {e}"))?;
		let status: u16 = line
			.split_whitespace()
			.nth(1)
			.and_then(|s| s.parse().ok())
			.ok_or_else(|| format!("malformed status line {line:?}"))?;
		let (mut length, mut chunked) = (None, false);
		loop {
			line.clear();
			reader.read_line(&mut line).map_err(|e| format!("bad headers: {e}"))?;
			let header = line.trim_end();
			if header.is_empty() {
				break;
			}
			if let Some((name, value)) = header.split_once(':') {
				let value = value.trim();
				if name.eq_ignore_ascii_case("content-length") {
					length = Some(value.parse::<u64>().map_err(|_| "bad Content-Length")?);
				} else if name.eq_ignore_ascii_case("transfer-encoding") {
					chunked = value.eq_ignore_ascii_case("chunked");
				}
			}
		}
		if status != 200 {
			return Err(format!("gateway answered HTTP {status}"));
		}
		let too_large = |n: u64| format!("body larger than {max_size} bytes ({n})");
		let mut body = Vec::new();
		if chunked {
			loop {
				line.clear();
				reader.read_line(&mut line).map_err(|e| format!("bad chunk: {e}"))?;
				let size = u64::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
					.map_err(|_| format!("bad chunk size {line:?}"))?;
				if size == 0 {
					break;
				}
				let total = body.len() as u64 + size;
				if total > max_size {
					return Err(too_large(total));
				}
				let start = body.len();
				body.resize(start + size as usize, 0);
				reader.read_exact(&mut body[start..]).map_err(|e| format!("short chunk: {e}"))?;
				line.clear();
				reader.read_line(&mut line).map_err(|e| format!("bad chunk end: {e}"))?;
			}
		} else if let Some(length) = length {
			if length > max_size {
				return Err(too_large(length));
			}
			body.resize(length as usize, 0);
			reader.read_exact(&mut body).map_err(|e| format!("short body: {e}"))?;
		} else {
			reader
				.take(max_size + 1)
				.read_to_end(&mut body)
				.map_err(|e| format!("cannot read body: {e}"))?;
			if body.len() as u64 > max_size {
				return Err(too_large(body.len() as u64));
			}
		}
		Ok(body)
	}
}

impl Fetcher for HttpGateway {
	fn fetch(&self, cid: &ContentId, max_size: u64) -> Result<Vec<u8>, String> {
		self.get(&format!("{}/ipfs/{}", self.path_prefix, cid.to_text()), max_size)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use std::net::TcpListener;

	/// A one-shot HTTP server on loopback that answers with `response`.
	fn serve_once(response: Vec<u8>) -> (String, std::thread::JoinHandle<String>) {
		let listener = TcpListener::bind("127.0.0.1:0").unwrap();
		let base = format!("http://{}", listener.local_addr().unwrap());
		let handle = std::thread::spawn(move || {
			let (mut stream, _) = listener.accept().unwrap();
			let mut request = Vec::new();
			let mut buf = [0u8; 1024];
			while !request.ends_with(b"\r\n\r\n") {
				let n = stream.read(&mut buf).unwrap();
				if n == 0 {
					break;
				}
				request.extend_from_slice(&buf[..n]);
			}
			stream.write_all(&response).unwrap();
			String::from_utf8_lossy(&request).into_owned()
		});
		(base, handle)
	}

	#[test]
	fn fetches_with_content_length_and_chunked_bodies() {
		let cid = ContentId::of(b"hello");
		let (base, server) =
			serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec());
		let gateway = HttpGateway::new(&base, Duration::from_secs(5)).unwrap();
		assert_eq!(gateway.fetch(&cid, 100).unwrap(), b"hello");
		assert!(server
			.join()
			.unwrap()
			.starts_with(&format!("GET /ipfs/{} HTTP/1.1", cid.to_text())));

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
}
