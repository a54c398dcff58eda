//! Writes the TPM quote test vectors of `tea-primitives` (`primitives/test-vectors/`) with the
//! worker's own TPM code (tss-esapi) against two running swtpm instances:
//! `tpm-vectors <tcti a> <tcti b> <out dir>`. Run through `scripts/tpm-vectors.sh`, which
//! starts the swtpms.
//!
//! Vector `a`: the TPM measured the generating binary into PCR 16. Vector `b`: another TPM (so
//! another attestation key) whose PCR 16 was extended once more, with another nonce.

use sha2::{Digest, Sha256};
use tea_worker::tpm::Tpm;

fn hex(bytes: &[u8]) -> String {
	hex::encode(bytes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
	let args: Vec<String> = std::env::args().skip(1).collect();
	let [a, b, out] = args.as_slice() else {
		return Err("usage: tpm-vectors <tcti a> <tcti b> <out dir>".into());
	};
	let vectors = [
		(
			a,
			"a",
			None,
			[
				0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
				0xee, 0xff,
			],
		),
		(
			b,
			"b",
			Some("tea-mini-runtime v2"),
			[
				0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22,
				0x11, 0x00,
			],
		),
	];
	for (tcti, name, extra, half) in vectors {
		let mut tpm = Tpm::open(tcti)?;
		// PCR 16 of the swtpm (zero after its start), extended once per stage.
		let mut measurement = String::from("PCR 16");
		for stage in ["tea-worker executable"].into_iter().chain(extra) {
			tpm.extend(16, Sha256::digest(stage.as_bytes()).into())?;
			measurement = format!("{measurement}, then {stage:?}");
		}
		let nonce = [half, half].concat();
		let quote = tpm.quote_pcrs(&nonce, &[16])?;
		let json = serde_json::json!({
			"description": "TPM2_Quote by swtpm through tea-worker's tss-esapi code; regenerate with scripts/tpm-vectors.sh",
			"measurement": measurement,
			"akSec1": hex(&tpm.identity().attestation_key),
			"nonce": hex(&nonce),
			"attest": hex(&quote.attest),
			"signature": hex(&quote.signature),
			"pcrs": quote.pcrs.iter().map(|(i, v)| serde_json::json!([i, hex(v)])).collect::<Vec<_>>(),
		});
		let path = format!("{out}/tpm-quote-{name}.json");
		std::fs::write(&path, format!("{}\n", serde_json::to_string_pretty(&json)?))?;
		eprintln!("wrote {path}");
	}
	Ok(())
}
