//! The worker's small HTTP/1.1 servers (hyper): `/metrics` + `/health`, and the local
//! invocation API of the daemon ([`crate::daemon::api`]).
//!
//! Every connection has a header-read timeout and a total deadline, at most
//! [`MAX_CONNECTIONS`] are served at once (the next ones wait in the kernel's backlog), and a
//! request body is read only up to the limit its route allows ([`body`]).

use http_body_util::{BodyExt, Full, Limited};
use hyper::{body::Bytes, Request, Response, StatusCode};
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

const LOG_TARGET: &str = "tea::http";

/// Connections served at once by one server.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may stay open.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);

/// A response with its whole body.
pub type Reply = Response<Full<Bytes>>;

/// A reply of `status` with `body` of content type `kind`.
pub fn reply(status: StatusCode, kind: &str, body: impl Into<Bytes>) -> Reply {
	let mut response = Response::new(Full::new(body.into()));
	*response.status_mut() = status;
	if let Ok(kind) = hyper::header::HeaderValue::from_str(kind) {
		response.headers_mut().insert(hyper::header::CONTENT_TYPE, kind);
	}
	response
}

/// A JSON reply.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Reply {
	reply(status, "application/json", value.to_string())
}

/// The body of `request`, or `Err(true)` when it is longer than `max` bytes and `Err(false)`
/// when it did not arrive whole (the client went away, a malformed chunk).
pub async fn body(request: Request<hyper::body::Incoming>, max: usize) -> Result<Bytes, bool> {
	let limited = Limited::new(request.into_body(), max);
	match limited.collect().await {
		Ok(collected) => Ok(collected.to_bytes()),
		Err(e) => Err(e.downcast_ref::<http_body_util::LengthLimitError>().is_some()),
	}
}

/// Serves `handler` on `addr` until the process ends; returns the bound address once
/// listening.
pub async fn serve<H, F>(addr: SocketAddr, handler: H) -> std::io::Result<SocketAddr>
where
	H: Fn(Request<hyper::body::Incoming>) -> F + Send + Sync + 'static,
	F: Future<Output = Reply> + Send + 'static,
{
	let listener = tokio::net::TcpListener::bind(addr).await?;
	let bound = listener.local_addr()?;
	let handler = Arc::new(handler);
	let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
	tokio::spawn(async move {
		loop {
			let Ok(slot) = slots.clone().acquire_owned().await else { return };
			let (stream, _) = match listener.accept().await {
				Ok(accepted) => accepted,
				Err(e) => {
					tracing::warn!(target: LOG_TARGET, error = %e, %bound, "accept failed");
					tokio::time::sleep(Duration::from_millis(100)).await;
					continue;
				}
			};
			let handler = handler.clone();
			let service = hyper::service::service_fn(move |request| {
				let answer = handler(request);
				async move { Ok::<_, std::convert::Infallible>(answer.await) }
			});
			tokio::spawn(async move {
				let io = hyper_util::rt::TokioIo::new(stream);
				let connection = hyper::server::conn::http1::Builder::new()
					.timer(hyper_util::rt::TokioTimer::new())
					.header_read_timeout(HEADER_TIMEOUT)
					.serve_connection(io, service);
				let _ = tokio::time::timeout(CONNECTION_DEADLINE, connection).await;
				drop(slot);
			});
		}
	});
	Ok(bound)
}

/// A JSON request to the HTTP server at `base` (`http://HOST:PORT`, as `tea-worker run`
/// prints its APIs): `method path` with `body`, on a fresh connection, within `timeout`.
/// Returns the status and the JSON answer (at most [`MAX_ANSWER`] bytes).
pub async fn call_json(
	base: &str,
	method: hyper::Method,
	path: &str,
	body: Option<&serde_json::Value>,
	timeout: Duration,
) -> Result<(StatusCode, serde_json::Value), String> {
	let url = url::Url::parse(base).map_err(|e| format!("{base:?} is not a URL: {e}"))?;
	if url.scheme() != "http" {
		return Err(format!("{base:?}: only http:// URLs are supported"));
	}
	let host = url.host_str().ok_or_else(|| format!("{base:?} has no host"))?.to_owned();
	let port = url.port().unwrap_or(80);
	let authority = format!("{host}:{port}");
	let call = async {
		let connect = host.trim_start_matches('[').trim_end_matches(']');
		let stream = tokio::net::TcpStream::connect((connect, port))
			.await
			.map_err(|e| format!("cannot connect to {authority}: {e}"))?;
		let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(
			hyper_util::rt::TokioIo::new(stream),
		)
		.await
		.map_err(|e| format!("cannot speak HTTP to {authority}: {e}"))?;
		tokio::spawn(connection);
		let path = format!("{}{path}", url.path().trim_end_matches('/'));
		let request = Request::builder()
			.method(method)
			.uri(&path)
			.header(hyper::header::HOST, &authority)
			.header(hyper::header::CONTENT_TYPE, "application/json")
			.body(Full::new(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default())))
			.map_err(|e| format!("cannot make the request {path:?}: {e}"))?;
		let response = sender
			.send_request(request)
			.await
			.map_err(|e| format!("no answer from {authority}: {e}"))?;
		let status = response.status();
		let bytes = Limited::new(response.into_body(), MAX_ANSWER)
			.collect()
			.await
			.map_err(|e| format!("the answer of {authority} did not arrive whole: {e}"))?
			.to_bytes();
		let json = serde_json::from_slice(&bytes)
			.map_err(|e| format!("{authority} answered HTTP {status} that is not JSON: {e}"))?;
		Ok((status, json))
	};
	tokio::time::timeout(timeout, call)
		.await
		.map_err(|_| format!("{authority} did not answer within {timeout:?}"))?
}

/// Largest answer [`call_json`] reads.
pub const MAX_ANSWER: usize = 8 << 20;
