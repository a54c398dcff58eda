//! The quote verifier the runtime runs, side by side in one run with the bare ECDSA P-256
//! verification of the same quote (its floor), on the committed swtpm vector.
//!
//! `cargo test -p tea-worker --bench attestation` (`scripts/perf.sh` prints it with the rest).
//! The runtime's weight for the same verification is in `runtime/src/weights/
//! pallet_tea_attestation.rs` (`submit_heartbeat`).

use p256::ecdsa::{signature::Verifier, Signature, VerifyingKey};
use std::time::Instant;
use tea_primitives::tpm::verify_quote;

fn hex(v: &serde_json::Value) -> Vec<u8> {
	hex::decode(v.as_str().unwrap()).unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
	v.sort_by(|a, b| a.partial_cmp(b).unwrap());
	v[v.len() / 2]
}

fn main() {
	let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../primitives/test-vectors/tpm-quote-a.json");
	let v: serde_json::Value =
		serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
	let (ak, nonce, attest, sig) =
		(hex(&v["akSec1"]), hex(&v["nonce"]), hex(&v["attest"]), hex(&v["signature"]));
	let pcrs: Vec<(u8, [u8; 32])> = v["pcrs"]
		.as_array()
		.unwrap()
		.iter()
		.map(|p| (p[0].as_u64().unwrap() as u8, hex(&p[1]).try_into().unwrap()))
		.collect();
	// The floor: the signature alone (r, s are the last two 32-byte fields of TPMT_SIGNATURE).
	let key = VerifyingKey::from_sec1_bytes(&ak).unwrap();
	let (r, s) = (&sig[6..38], &sig[40..72]);
	let signature =
		Signature::from_scalars(<[u8; 32]>::try_from(r).unwrap(), <[u8; 32]>::try_from(s).unwrap())
			.unwrap();
	assert!(verify_quote(&ak, &attest, &sig, &nonce, &pcrs).is_ok());
	assert!(key.verify(&attest, &signature).is_ok());

	const ITERS: u32 = 50;
	let (mut ours, mut floor) = (Vec::new(), Vec::new());
	for _ in 0..9 {
		let t = Instant::now();
		for _ in 0..ITERS {
			assert!(verify_quote(&ak, &attest, &sig, &nonce, &pcrs).is_ok());
		}
		ours.push(t.elapsed().as_nanos() as f64 / ITERS as f64);
		let t = Instant::now();
		for _ in 0..ITERS {
			let key = VerifyingKey::from_sec1_bytes(&ak).unwrap();
			assert!(key.verify(&attest, &signature).is_ok());
		}
		floor.push(t.elapsed().as_nanos() as f64 / ITERS as f64);
	}
	let (ours, floor) = (median(ours), median(floor));
	println!("| what | ours | reference | ratio |");
	println!("|---|---|---|---|");
	println!(
		"| quote verify, native (parse, nonce, PCR digest, ECDSA P-256) vs bare `p256` verify of the same signature | {:.0} µs | {:.0} µs | {:.2}x |",
		ours / 1000.0,
		floor / 1000.0,
		ours / floor
	);
}
