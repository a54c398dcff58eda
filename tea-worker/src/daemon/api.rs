//! The daemon's local invocation API: local callers run actors on this node over HTTP.
//!
//! It listens on a loopback address only (`api`, default `127.0.0.1:9690`): it takes unsigned
//! requests, so anything that can reach it can spend this node's compute. Remote clients use
//! the client task API (signed requests, receipts), which runs through the same
//! [`Executor::run`]. Web pages in the operator's browser can reach loopback too: a request
//! that carries an `Origin` header (every cross-origin request a browser sends) or whose `Host`
//! is not a loopback name (DNS rebinding) is refused with `403 cross_origin` / `bad_host`.
//!
//! - `GET /v1/actors`: the releases that may run on this node, and whether each is stored and
//!   compiled.
//! - `POST /v1/actors/<name>`: runs the release of `<name>` this node runs (the rolling one
//!   where its tier is open for it, else the active one) on the request body.
//! - `POST /v1/releases/<cid>`: runs that release, if it may run here.
//!
//! A run answers `200` with `{"actor", "version", "cid", "block", "fuelUsed", "output"}`
//! (`output` as `0x` hex); a refusal or failure answers with `{"error": <kind>, "reason"}`:
//! `404 unknown_actor`, `403 not_runnable`, `413 input_too_large`, `400 bad_body`,
//! `503 not_fetched`, `busy` or `stale` (with `retry-after`), `422` when the actor failed on
//! the input (`out_of_fuel`, `timeout`, `memory_limit`, `trap`, `bad_output`) and `500
//! load_failed` when the release's code would not load here.

use crate::{
	hex0x,
	http::{self, Reply},
	runtime::{InvokeError, LoadError},
	tasks::{Executor, Target, TaskError},
};
use hyper::{Method, StatusCode};
use std::{net::SocketAddr, sync::Arc};
use tea_primitives::ContentId;

const LOG_TARGET: &str = "tea::api";

/// Serves the API of `executor` on `addr` (a loopback address) until the process ends;
/// returns the bound address.
pub async fn serve(addr: SocketAddr, executor: Arc<Executor>) -> std::io::Result<SocketAddr> {
	http::serve(addr, move |request| {
		let executor = executor.clone();
		async move { answer(&executor, request).await }
	})
	.await
}

fn error(status: StatusCode, kind: &str, reason: &str) -> Reply {
	http::json(status, &serde_json::json!({ "error": kind, "reason": reason }))
}

/// The reply to what the executor refused (also the client task API's).
pub(super) fn refused(e: &TaskError) -> Reply {
	let status = match e {
		TaskError::UnknownActor(_) => StatusCode::NOT_FOUND,
		TaskError::NotRunnable(_) => StatusCode::FORBIDDEN,
		TaskError::InputTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
		TaskError::NotFetched(_)
		| TaskError::Busy(_)
		| TaskError::Stale(_)
		| TaskError::Invoke(InvokeError::Load(LoadError::Unmeasured(_))) => {
			StatusCode::SERVICE_UNAVAILABLE
		}
		TaskError::Invoke(InvokeError::Load(_)) => StatusCode::INTERNAL_SERVER_ERROR,
		TaskError::Invoke(_) => StatusCode::UNPROCESSABLE_ENTITY,
	};
	let mut reply = error(status, e.kind(), &e.to_string());
	if status == StatusCode::SERVICE_UNAVAILABLE {
		reply
			.headers_mut()
			.insert(hyper::header::RETRY_AFTER, hyper::header::HeaderValue::from_static("1"));
	}
	reply
}

/// Whether `host` (a `Host` header) names a loopback address: `127.x.y.z`, `[::1]` or
/// `localhost`, with or without a port.
fn loopback_host(host: &str) -> bool {
	let name = match host.strip_prefix('[') {
		Some(rest) => rest.split(']').next().unwrap_or(""),
		None => host.rsplit_once(':').map_or(host, |(name, _)| name),
	};
	name.eq_ignore_ascii_case("localhost")
		|| name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

async fn answer(executor: &Executor, request: hyper::Request<hyper::body::Incoming>) -> Reply {
	let headers = request.headers();
	if headers.contains_key(hyper::header::ORIGIN) {
		return error(
			StatusCode::FORBIDDEN,
			"cross_origin",
			"requests from web pages are refused: this API is for local programs",
		);
	}
	let host = headers.get(hyper::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
	if !loopback_host(host) {
		return error(
			StatusCode::FORBIDDEN,
			"bad_host",
			&format!("Host {host:?} is not a loopback address"),
		);
	}
	let path = request.uri().path().to_owned();
	let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
	let target = match (request.method(), segments.as_slice()) {
		(&Method::GET, ["v1", "actors"]) => {
			let releases: Vec<_> = executor
				.readiness()
				.into_iter()
				.map(|r| {
					serde_json::json!({
						"actor": r.release.actor,
						"version": r.release.version,
						"cid": r.release.cid.to_text(),
						"stored": r.stored,
						"loaded": r.loaded,
						"failed": r.failed,
					})
				})
				.collect();
			return http::json(StatusCode::OK, &serde_json::json!({ "releases": releases }));
		}
		(_, ["v1", "actors", ""]) => {
			return error(StatusCode::NOT_FOUND, "not_found", "no actor name in the path")
		}
		(&Method::POST, ["v1", "actors", name]) => Target::Actor((*name).to_owned()),
		(&Method::POST, ["v1", "releases", cid]) => match ContentId::parse(cid) {
			Ok(cid) => Target::Release(cid),
			Err(e) => return error(StatusCode::BAD_REQUEST, "bad_cid", &format!("{cid:?}: {e}")),
		},
		(_, ["v1", "actors"] | ["v1", "actors", _] | ["v1", "releases", _]) => {
			return error(
				StatusCode::METHOD_NOT_ALLOWED,
				"method",
				"use POST to run, GET /v1/actors to list",
			)
		}
		_ => return error(StatusCode::NOT_FOUND, "not_found", "no such route"),
	};
	let max = executor.max_input();
	let input = match http::body(request, max).await {
		Ok(input) => input,
		Err(too_large) => {
			let (status, kind, reason) = if too_large {
				(
					StatusCode::PAYLOAD_TOO_LARGE,
					"input_too_large",
					format!("the input is over the limit of {max} bytes"),
				)
			} else {
				(StatusCode::BAD_REQUEST, "bad_body", "the body was not sent whole".to_owned())
			};
			crate::metrics::invocation(kind);
			return error(status, kind, &reason);
		}
	};
	match executor.run(target.clone(), input.to_vec()).await {
		Ok(outcome) => {
			tracing::debug!(target: LOG_TARGET, ?target, fuel = outcome.fuel_used, "invoked");
			http::json(
				StatusCode::OK,
				&serde_json::json!({
					"actor": outcome.actor,
					"version": outcome.version,
					"cid": outcome.cid.to_text(),
					"block": outcome.block,
					"fuelUsed": outcome.fuel_used,
					"output": hex0x(&outcome.output),
				}),
			)
		}
		Err(e) => {
			tracing::info!(target: LOG_TARGET, ?target, error = %e, "invocation refused or failed");
			refused(&e)
		}
	}
}

#[cfg(test)]
mod tests {
	#[test]
	fn only_loopback_host_names_pass() {
		for host in
			["127.0.0.1:9690", "127.1.2.3", "[::1]:80", "[::1]", "localhost:9690", "LOCALHOST"]
		{
			assert!(super::loopback_host(host), "{host}");
		}
		for host in [
			"",
			"evil.example:9690",
			"10.0.0.1:9690",
			"[::2]:1",
			"127.0.0.1.evil.example",
			"localhost.evil:1",
		] {
			assert!(!super::loopback_host(host), "{host}");
		}
	}
}
