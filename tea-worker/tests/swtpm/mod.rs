//! Software TPMs for tests, through the daemon's own swtpm management
//! (`tea_worker::daemon::swtpm`): each test gets its own swtpm on free loopback ports with its
//! own state directory, manufactured by `swtpm_setup`, optionally with an EK certificate from a
//! development CA (`swtpm_localca`, the stand-in for a TPM vendor's CA).
#![allow(dead_code)]

use std::net::TcpListener;
use tea_worker::daemon::swtpm::{self, ManagedSwtpm};

/// A running swtpm, stopped on drop (before its state directory goes).
pub struct Swtpm {
	/// Its TCTI string.
	pub tcti: String,
	running: Option<ManagedSwtpm>,
	_state: tempfile::TempDir,
}

impl Swtpm {
	/// Stops this swtpm (an orderly shutdown) and starts it again on its state: a TPM reset,
	/// PCRs back at zero, the keys kept.
	pub fn restart(&mut self) {
		drop(self.running.take());
		let running = swtpm::start(&self._state.path().join("tpm"), None).expect("swtpm again");
		self.tcti = running.tcti.clone();
		self.running = Some(running);
	}
}

pub fn free_port() -> u16 {
	TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(ca: Option<&std::path::Path>) -> Swtpm {
	let state = tempfile::tempdir().unwrap();
	let running = swtpm::start(&state.path().join("tpm"), ca).expect("swtpm (scripts/setup.sh)");
	Swtpm { tcti: running.tcti.clone(), running: Some(running), _state: state }
}

/// A swtpm with an uncertified EK.
pub fn swtpm() -> Swtpm {
	start(None)
}

/// A development CA (created on first use).
pub struct LocalCa {
	dir: tempfile::TempDir,
}

impl LocalCa {
	pub fn new() -> Self {
		Self { dir: tempfile::tempdir().unwrap() }
	}

	/// A swtpm whose RSA 2048 EK this CA certified (written to NV by swtpm_setup).
	pub fn swtpm(&self) -> Swtpm {
		start(Some(self.dir.path()))
	}

	/// The issuing CA's certificate (PEM): what governance allowlists the key of.
	pub fn issuer_cert(&self) -> std::path::PathBuf {
		swtpm::dev_ca_certificate(self.dir.path()).unwrap()
	}
}
