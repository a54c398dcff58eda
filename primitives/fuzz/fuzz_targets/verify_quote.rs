//! Fuzzes `tpm::verify_quote` as the runtime runs it on a submitted extrinsic: arbitrary
//! `TPMS_ATTEST`, `TPMT_SIGNATURE` and PCR values against a real swtpm vector's key and nonce.
//! It must never panic, and nothing but the vector itself may verify.
//!
//! Run: `cd primitives/fuzz && cargo +nightly fuzz run verify_quote -- -max_total_time=300`
//! `scripts/fuzz.sh` seeds the corpus with the committed vectors laid out as below and runs it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tea_primitives::tpm::{verify_quote, dev_attestation_key};

/// Input layout: `[attest_len: u8][attest][sig_len: u8][signature][pcr count: u8]{[index][32 bytes]}`.
fn split(data: &[u8]) -> Option<(&[u8], &[u8], Vec<(u8, [u8; 32])>)> {
	let (&n, rest) = data.split_first()?;
	let (attest, rest) = rest.split_at_checked(n as usize)?;
	let (&n, rest) = rest.split_first()?;
	let (signature, rest) = rest.split_at_checked(n as usize)?;
	let (&count, mut rest) = rest.split_first().unwrap_or((&0, &[]));
	let mut pcrs = Vec::new();
	for _ in 0..count {
		let (entry, more) = rest.split_at_checked(33)?;
		pcrs.push((entry[0], entry[1..].try_into().ok()?));
		rest = more;
	}
	Some((attest, signature, pcrs))
}

fuzz_target!(|data: &[u8]| {
	let Some((attest, signature, pcrs)) = split(data) else { return };
	// A key nobody holds the quote's secret for: a real key's quote cannot be forged by the
	// fuzzer, so any success is a verifier bug.
	let ak = dev_attestation_key(0x5eed);
	// The nonce of the committed vector `a`, so the seeds parse all the way to the signature.
	let nonce = [
		0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
		0xff, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
		0xee, 0xff,
	];
	assert!(verify_quote(&ak, attest, signature, &nonce, &pcrs).is_err());
});
