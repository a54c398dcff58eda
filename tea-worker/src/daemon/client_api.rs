//! The client task API: anyone may ask this node to run a task, with a request signed by
//! their account, and gets the output with a proof-of-trust receipt
//! ([`crate::receipts`]). It listens where `tasks` says (`HOST:PORT`; none by default), and
//! answers web pages too (CORS): requests are signed, so a page can spend only its own
//! client's tasks.
//!
//! - `GET /v1/node`: `{"nodeId", "receiptKey", "block"}` — the node a request must name, the
//!   key its receipts are signed with, and the latest finalized block it read (a request's
//!   `valid_until` is at most [`MAX_VALIDITY`](crate::receipts::MAX_VALIDITY) blocks after).
//! - `POST /v1/tasks` with `{"request": "0x…", "signature": "0x…", "input": "0x…"}`: the SCALE
//!   `TaskRequest`, the client's SCALE `MultiSignature` over `b"tea/task/v1" ‖ request`, and
//!   the input bytes. `200` answers `{"output", "receipt", "actor", "version", "cid", "block",
//!   "blockHash", "attestation", "fuelUsed"}` (`receipt`: the SCALE `SignedReceipt`, what
//!   `tea-worker verify` checks). A refusal answers `{"error": <kind>, "reason"}`: `400
//!   bad_request` / `input_mismatch` / `too_long`, `401 bad_signature`, `421 wrong_node`, `409
//!   replayed`, `410 expired`, `429 rate_limited` (with `retry-after`), `503 not_attested` /
//!   `full`, and the local API's statuses for what the executor refuses.
//! - `POST /v1/acks` with `{"receipt": "0x…", "acknowledgement": "0x…"}`: a receipt this node
//!   signed (SCALE `SignedReceipt`, as `/v1/tasks` answered it) and the client's SCALE
//!   `MultiSignature` over `b"tea/ack/v1" ‖ SHA-256(receipt)`: the client accepted it, and the
//!   node sends it on chain in its next batch, where it earns work points
//!   ([`crate::chain::acks`]). `202` answers `{"queued"}`; a refusal `{"error", "reason"}`:
//!   `400 bad_request`, `421 wrong_node`, `401 bad_receipt_signature` /
//!   `bad_acknowledgement`, `403 self_dealing` / `unknown_client` (no account on chain) /
//!   `worthless` (less fuel than a work point), `410
//!   stale` (its era ended), `409 duplicate`, `429 client_full` (with `retry-after`), `503
//!   full` / `not_serving` / `chain` / `store` (with `retry-after`).

use crate::{
	chain::acks::{AckQueue, AckRefusal},
	hex0x,
	http::{self, Reply},
	receipts::{ClientTasks, Refusal},
};
use hyper::{header, Method, StatusCode};
use std::{net::SocketAddr, sync::Arc};

const LOG_TARGET: &str = "tea::tasks";

/// Serves the client task API of `tasks` on `addr` until the process ends, taking
/// acknowledged receipts into `acks`; returns the bound address.
pub async fn serve(
	addr: SocketAddr,
	tasks: Arc<ClientTasks>,
	acks: Arc<AckQueue>,
) -> std::io::Result<SocketAddr> {
	http::serve(addr, move |request| {
		let (tasks, acks) = (tasks.clone(), acks.clone());
		async move {
			let mut reply = answer(&tasks, &acks, request).await;
			let headers = reply.headers_mut();
			headers
				.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, header::HeaderValue::from_static("*"));
			reply
		}
	})
	.await
}

fn error(status: StatusCode, kind: &str, reason: &str) -> Reply {
	http::json(status, &serde_json::json!({ "error": kind, "reason": reason }))
}

/// A refusal: `status` with `{"error": kind, "reason"}`, and `retry-after` (seconds) when it
/// is worth trying again.
fn refusal(
	status: StatusCode,
	kind: &str,
	reason: &str,
	retry_after: Option<&'static str>,
) -> Reply {
	let mut reply = error(status, kind, reason);
	if let Some(secs) = retry_after {
		reply.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static(secs));
	}
	reply
}

fn refused(e: &Refusal) -> Reply {
	let (status, retry) = match e {
		Refusal::Malformed(_) | Refusal::InputMismatch | Refusal::TooLong { .. } => {
			(StatusCode::BAD_REQUEST, None)
		}
		Refusal::BadSignature => (StatusCode::UNAUTHORIZED, None),
		Refusal::WrongNode(_) => (StatusCode::MISDIRECTED_REQUEST, None),
		Refusal::Replayed(_) => (StatusCode::CONFLICT, None),
		Refusal::Expired { .. } => (StatusCode::GONE, None),
		Refusal::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, Some("1")),
		Refusal::Full | Refusal::NotAttested(_) => (StatusCode::SERVICE_UNAVAILABLE, Some("1")),
		Refusal::Task(e) => return super::api::refused(e),
	};
	refusal(status, e.kind(), &e.to_string(), retry)
}

fn ack_refused(e: &AckRefusal) -> Reply {
	// A batch goes every few blocks (dev blocks are 2 s): that is when room comes back.
	let (status, retry) = match e {
		AckRefusal::Malformed(_) => (StatusCode::BAD_REQUEST, None),
		AckRefusal::WrongNode(_) => (StatusCode::MISDIRECTED_REQUEST, None),
		AckRefusal::BadReceiptSignature | AckRefusal::BadAcknowledgement => {
			(StatusCode::UNAUTHORIZED, None)
		}
		AckRefusal::SelfDealing | AckRefusal::UnknownClient(_) | AckRefusal::Worthless { .. } => {
			(StatusCode::FORBIDDEN, None)
		}
		AckRefusal::Stale { .. } => (StatusCode::GONE, None),
		AckRefusal::Duplicate(_) => (StatusCode::CONFLICT, None),
		AckRefusal::ClientFull => (StatusCode::TOO_MANY_REQUESTS, Some("6")),
		AckRefusal::Full | AckRefusal::NotServing | AckRefusal::Chain(_) | AckRefusal::Store(_) => {
			(StatusCode::SERVICE_UNAVAILABLE, Some("6"))
		}
	};
	refusal(status, e.kind(), &e.to_string(), retry)
}

/// The body of `request`, at most `max` bytes (over it: `413` with `kind` and `reason`).
async fn body_of(
	request: hyper::Request<hyper::body::Incoming>,
	max: usize,
	kind: &str,
	reason: impl FnOnce() -> String,
) -> Result<hyper::body::Bytes, Reply> {
	match http::body(request, max).await {
		Ok(body) => Ok(body),
		Err(true) => Err(error(StatusCode::PAYLOAD_TOO_LARGE, kind, &reason())),
		Err(false) => {
			Err(error(StatusCode::BAD_REQUEST, "bad_body", "the body was not sent whole"))
		}
	}
}

/// The acknowledgement in `body` into `acks`.
async fn acknowledge(
	acks: &Arc<AckQueue>,
	request: hyper::Request<hyper::body::Incoming>,
) -> Reply {
	// A receipt is under a kilobyte; hex doubles it.
	let body =
		match body_of(request, 8192, "too_large", || "the body is over 8192 bytes".into()).await {
			Ok(body) => body,
			Err(reply) => return reply,
		};
	let result = async {
		let body: serde_json::Value = serde_json::from_slice(&body)
			.map_err(|e| AckRefusal::Malformed(format!("the body is not JSON: {e}")))?;
		let field = |name: &str| hex_field(&body, name).map_err(AckRefusal::Malformed);
		let (receipt, acknowledgement) = (field("receipt")?, field("acknowledgement")?);
		acks.offer(receipt, acknowledgement).await
	}
	.await;
	match result {
		Ok(queued) => {
			crate::metrics::client_task("ack");
			http::json(StatusCode::ACCEPTED, &serde_json::json!({ "queued": queued }))
		}
		Err(e) => {
			crate::metrics::client_task(&format!("ack_{}", e.kind()));
			tracing::info!(target: LOG_TARGET, error = %e, "acknowledgement refused");
			ack_refused(&e)
		}
	}
}

/// `0x`-prefixed hex of a JSON field (the error: why not).
fn hex_field(body: &serde_json::Value, name: &str) -> Result<Vec<u8>, String> {
	let text = body
		.get(name)
		.and_then(|v| v.as_str())
		.ok_or_else(|| format!("no `{name}` (a 0x-prefixed hex string)"))?;
	crate::unhex0x(text).map_err(|e| format!("`{name}`: {e}"))
}

async fn answer(
	tasks: &ClientTasks,
	acks: &Arc<AckQueue>,
	request: hyper::Request<hyper::body::Incoming>,
) -> Reply {
	let path = request.uri().path().to_owned();
	match (request.method(), path.as_str()) {
		(&Method::OPTIONS, "/v1/tasks" | "/v1/node" | "/v1/acks") => {
			let mut reply = http::reply(StatusCode::NO_CONTENT, "text/plain", "");
			let headers = reply.headers_mut();
			headers.insert(
				header::ACCESS_CONTROL_ALLOW_METHODS,
				header::HeaderValue::from_static("GET, POST"),
			);
			headers.insert(
				header::ACCESS_CONTROL_ALLOW_HEADERS,
				header::HeaderValue::from_static("content-type"),
			);
			reply
		}
		(&Method::GET, "/v1/node") => http::json(
			StatusCode::OK,
			&serde_json::json!({
				"nodeId": hex0x(&tasks.node()),
				"receiptKey": hex0x(&tasks.key()),
				"block": tasks.executor().current_block(),
			}),
		),
		(&Method::POST, "/v1/tasks") => {
			// Hex doubles the input; the request and signature add a few hundred bytes.
			let max = tasks.executor().max_input() * 2 + 4096;
			let body = match body_of(request, max, "input_too_large", || {
				format!(
					"the body is over {max} bytes (inputs of at most {} bytes)",
					tasks.executor().max_input()
				)
			})
			.await
			{
				Ok(body) => body,
				Err(reply) => return reply,
			};
			let result = async {
				let body: serde_json::Value = serde_json::from_slice(&body)
					.map_err(|e| Refusal::Malformed(format!("the body is not JSON: {e}")))?;
				let field = |name: &str| hex_field(&body, name).map_err(Refusal::Malformed);
				let (request, signature, input) =
					(field("request")?, field("signature")?, field("input")?);
				tasks.run(&request, &signature, input).await
			}
			.await;
			match result {
				Ok(done) => {
					let r = &done.receipt.receipt;
					crate::metrics::client_task("ok");
					http::json(
						StatusCode::OK,
						&serde_json::json!({
							"output": hex0x(&done.outcome.output),
							"receipt": hex0x(&codec::Encode::encode(&done.receipt)),
							"actor": done.outcome.actor,
							"version": r.version,
							"cid": r.cid.to_text(),
							"block": r.block,
							"blockHash": hex0x(r.block_hash.as_bytes()),
							"attestation": r.attestation,
							"fuelUsed": r.fuel_used,
						}),
					)
				}
				Err(e) => {
					crate::metrics::client_task(e.kind());
					tracing::info!(target: LOG_TARGET, error = %e, "client task refused or failed");
					refused(&e)
				}
			}
		}
		(&Method::POST, "/v1/acks") => acknowledge(acks, request).await,
		(_, "/v1/tasks" | "/v1/node" | "/v1/acks") => error(
			StatusCode::METHOD_NOT_ALLOWED,
			"method",
			"POST /v1/tasks, POST /v1/acks, GET /v1/node",
		),
		_ => error(StatusCode::NOT_FOUND, "not_found", "no such route"),
	}
}
