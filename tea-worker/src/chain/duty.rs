//! The node's own duty against the chain: registration (unless the chain has the node), the
//! admission quote while it is an unattested candidate, a heartbeat attestation while it is on
//! probation or active, and an appeal as soon as it is quarantined, each a fresh TPM quote over
//! the chain's challenge submitted by the node's operator.
//!
//! When nothing about the node itself is owed, it reports what its mini-runtime refused and
//! sends its clients' acknowledged receipts ([`super::acks`]).
//!
//! The challenge is anchored at the latest finalized block (the runtime accepts anchors up to
//! `ChallengeWindow` blocks old, and computes the same `tea_primitives::tpm::challenge`).

use super::{
	acks::{AckId, AckQueue, Settled},
	by_node,
	committee::{ChainNode, ChainReview},
	optional,
	outbox::Key,
	request_error,
	signer::{Finalized, Signer},
	value, ChainClient, ChainError, LOG_TARGET,
};
use crate::runtime::SecurityLog;
use crate::{
	committee::Gate,
	p2p::Network,
	tpm::{Identity, TpmHandle},
};
use pallet_tea_attestation::{EvidenceState, HeartbeatRules, Record};
use pallet_tea_nodes::NodeState;
use sp_core::H256;
use std::sync::{Arc, Mutex};
use subxt::{dynamic, utils::Static};
use tea_primitives::{
	evidence::{self, EventKind, LogEvent, PcrPolicy},
	tpm::{challenge, Purpose},
	ContentId, RefusalCounts,
};

/// The TEA runtime's block number.
pub type BlockNumber = u32;

/// Blocks to wait for a submitted attestation to show in finalized state before another.
pub const RESUBMIT_AFTER: BlockNumber = 4;
/// Appeals per quarantine at most (a failed submission or a committee without a majority
/// leaves the node quarantined; a committee that rejects it would reject it again).
pub const MAX_APPEALS: u32 = 3;

/// What the node last submitted: purpose and the finalized block it was anchored at (kept in
/// the outbox, so a restart neither repeats it early nor forgets how often it appealed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, codec::Encode, codec::Decode)]
pub struct Submitted {
	/// Why.
	pub purpose: Purpose,
	/// Its anchor.
	pub anchor: BlockNumber,
	/// The block at which the node entered the state it was submitted in.
	pub since: BlockNumber,
	/// Appeals submitted in this quarantine, this one included.
	pub appeals: u32,
}

/// The node's standing as the duty reads it at a finalized block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
	/// Its state.
	pub state: NodeState<BlockNumber>,
	/// Block at which it entered that state.
	pub since: BlockNumber,
	/// Its attestation record.
	pub record: Option<Record<BlockNumber>>,
	/// Whether a committee is reviewing it.
	pub under_review: bool,
	/// The registered libp2p peer ids of that committee's members (whom it answers).
	pub reviewers: Vec<Vec<u8>>,
	/// The operator the node is registered by (32 bytes).
	pub operator: [u8; 32],
	/// The attestation key it is registered with.
	pub attestation_key: [u8; 65],
	/// The libp2p peer id it is registered with.
	pub peer_id: Vec<u8>,
	/// The addresses it published (binary multiaddrs).
	pub addresses: Vec<Vec<u8>>,
	/// Block of its latest refusal report on chain.
	pub last_refusal_report: Option<BlockNumber>,
}

/// How the runtime takes refusal reports (its `Actors` constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportRules {
	/// Blocks between two reports of one node (`RefusalReportInterval`).
	pub interval: BlockNumber,
	/// Most releases one report names (`MaxRefusalReports`).
	pub max: u32,
}

/// Why this worker must not act for the registration it found under its node id: an EK is
/// public, so anyone can register it first (with their own operator or peer id). `None` when
/// the registration is this worker's.
pub fn foreign_registration(
	standing: &Standing,
	operator: &[u8; 32],
	peer_id: &[u8],
) -> Option<String> {
	if standing.operator != *operator {
		return Some(format!(
			"this node's EK is registered by another operator (0x{}) and cannot be claimed (it \
			 completed its admission quote, or names another attestation key): its quotes and \
			 appeals would be refused; exit that registration or report it",
			hex::encode(standing.operator)
		));
	}
	if standing.peer_id != peer_id {
		return Some(
			"this node is registered with another libp2p peer id: committee members would not \
			 reach this worker; use the registered key (`p2p_key`) or re-register"
				.into(),
		);
	}
	None
}

/// Whether another operator's registration (of this node, or of another EK with this TPM's
/// key) is still provisional — a candidate not under review none of whose quotes for that
/// operator ever verified — and holds this TPM's attestation key: then this worker, which holds
/// the key, takes it over with `nodes.claim`, as the chain allows.
pub fn claimable(standing: &Standing, operator: &[u8; 32], key: &[u8; 65]) -> bool {
	standing.operator != *operator
		&& standing.state == NodeState::Candidate { attested: false }
		&& !standing.under_review
		&& standing.record.as_ref().is_none_or(|record| record.last_valid.is_none())
		&& standing.attestation_key == *key
}

/// The attestation the node owes at finalized block `now`, if any.
///
/// - Probation or active: a heartbeat once half a heartbeat period passed since its last valid
///   attestation (so one late block never costs a period).
/// - Quarantined within the appeal window and not under review: an appeal, again after
///   [`RESUBMIT_AFTER`] blocks if it is still quarantined, at most [`MAX_APPEALS`] times.
/// - An unattested candidate not under review: its admission quote, again after
///   [`RESUBMIT_AFTER`] blocks while it stays unattested (a committee without a majority).
/// - Otherwise nothing.
pub fn due(
	standing: &Standing,
	rules: &HeartbeatRules<BlockNumber>,
	now: BlockNumber,
	last: Option<Submitted>,
) -> Option<Purpose> {
	// An anchor must be later than the last one the chain took.
	if standing.record.as_ref().is_some_and(|r| r.last_anchor >= now) {
		return None;
	}
	let recent = |purpose| {
		last.is_some_and(|l| l.purpose == purpose && now < l.anchor.saturating_add(RESUBMIT_AFTER))
	};
	match standing.state {
		NodeState::Probation { .. } | NodeState::Active => {
			let last_valid = standing.record.as_ref().and_then(|r| r.last_valid).unwrap_or(0);
			let owed =
				now.saturating_sub(last_valid.max(standing.since)) >= (rules.period / 2).max(1);
			(owed && !recent(Purpose::Heartbeat)).then_some(Purpose::Heartbeat)
		}
		NodeState::Quarantined { appeal_until, .. } => {
			let appeals = appeals_in(last, standing.since);
			let may = now < appeal_until && !standing.under_review && appeals < MAX_APPEALS;
			(may && !recent(Purpose::Appeal)).then_some(Purpose::Appeal)
		}
		NodeState::Candidate { attested: false } => {
			let may = !standing.under_review && !recent(Purpose::Admission);
			may.then_some(Purpose::Admission)
		}
		NodeState::Candidate { attested: true } | NodeState::Exiting { .. } => None,
	}
}

/// A heartbeat owed early, at finalized block `now`, by a probationary or active node whose
/// event log holds `unproven` entries the chain has not accepted yet, half or more of the
/// `max` a quote may carry: the node quotes before the bound is near, so releases keep loading
/// (each heartbeat moves the chain's base forward).
pub fn early_heartbeat(
	standing: &Standing,
	now: BlockNumber,
	last: Option<Submitted>,
	unproven: usize,
	max: u32,
) -> Option<Purpose> {
	let filling = unproven >= (max / 2).max(1) as usize;
	let trusted = matches!(standing.state, NodeState::Probation { .. } | NodeState::Active);
	let anchored = standing.record.as_ref().is_some_and(|r| r.last_anchor >= now);
	let recent = last.is_some_and(|l| {
		l.purpose == Purpose::Heartbeat && now < l.anchor.saturating_add(RESUBMIT_AFTER)
	});
	(filling && trusted && !anchored && !recent).then_some(Purpose::Heartbeat)
}

/// `last` with the appeal that `error` says lapsed no longer counted (`None`: nothing to
/// change).
fn uncount_lapsed(last: Option<Submitted>, error: &ChainError) -> Option<Submitted> {
	let ChainError::Lapsed { what: ATTEST, .. } = error else { return None };
	let last = last.filter(|l| l.purpose == Purpose::Appeal && l.appeals > 0)?;
	Some(Submitted { appeals: last.appeals - 1, ..last })
}

/// Appeals made in the quarantine that began at `since`.
fn appeals_in(last: Option<Submitted>, since: BlockNumber) -> u32 {
	last.filter(|l| l.purpose == Purpose::Appeal && l.since == since).map_or(0, |l| l.appeals)
}

/// What the duty did at one block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attested {
	/// Why it attested.
	pub purpose: Purpose,
	/// Its anchor block.
	pub anchor: BlockNumber,
	/// The events of `submit_attestation` that name the outcome (`Attested`, `QuoteRejected`,
	/// `ReviewRequested`, …), as `Pallet.Event`.
	pub events: Vec<String>,
}

/// What the chain requires of a quote's evidence, and what it accepted last from the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceRules {
	/// The attestation policy (none: the legacy rule, no event log).
	pub policy: Option<PcrPolicy>,
	/// What the chain kept of the node's last accepted quote.
	pub last: Option<EvidenceState<BlockNumber>>,
	/// Most entries a quote's log may carry (`MaxLogEntries`).
	pub max_entries: u32,
	/// Whether governance ever allowed this worker's build (`upgrades.everAllowed`); a node
	/// whose launch logged another would be evidence against itself, so it waits.
	pub runtime_allowed: bool,
	/// The providers this worker logged that the chain does not register (`actors.providers`):
	/// its log would be evidence against it, so it waits.
	pub unregistered: Vec<String>,
}

impl EvidenceRules {
	/// The reset count and log PCR value of the last accepted quote ([`EvidenceLog::since`]).
	///
	/// [`EvidenceLog::since`]: crate::evidence::EvidenceLog::since
	pub fn base(&self) -> Option<(u32, [u8; 32])> {
		let policy = self.policy.as_ref()?;
		let last = self.last.as_ref()?;
		let (_, value) = last.pcrs.iter().find(|(pcr, _)| policy.is_log_pcr(*pcr))?;
		Some((last.reset_count, *value))
	}
}

/// Why the node must not submit a quote of `quoted` (taken in TPM reset cycle `reset_count`)
/// with `log` under `rules`: the runtime would take it as evidence against the node, or
/// refuse it. Checked with the runtime's own replay.
pub fn unfit_evidence(
	rules: &EvidenceRules,
	reset_count: u32,
	quoted: &[(u8, [u8; 32])],
	log: &[LogEvent],
) -> Option<String> {
	let policy = rules.policy.as_ref()?;
	if log.len() > rules.max_entries as usize {
		return Some(format!(
			"{} event log entries since the last accepted quote: a quote carries at most {}",
			log.len(),
			rules.max_entries
		));
	}
	let last = rules.last.as_ref().filter(|l| l.reset_count == reset_count);
	match evidence::replay_since(policy, last.map(|l| &l.pcrs[..]), log, quoted) {
		Err(e) => Some(format!("the quote fails the chain's policy: {e:?}")),
		Ok(false) if !log.iter().any(|e| e.kind == EventKind::Runtime) => Some(
			"no runtime launch is logged since the TPM reset: start the worker with `tea-worker launch`"
				.into(),
		),
		Ok(_) => None,
	}
}

/// Whether the latest receipt key `log` shows is not `own`, the key this process made (one
/// made by an earlier process before it is fine: this process's comes later).
pub fn foreign_receipt_key(log: &[LogEvent], own: Option<[u8; 32]>) -> bool {
	let Some(own) = own else { return false };
	log.iter()
		.rev()
		.find(|e| e.kind == EventKind::ReceiptKey)
		.is_some_and(|e| e.data[..] != own[..])
}

/// Whether the worker checks its own evidence before it submits it. Test-only fault (feature
/// `test-faults`, never in a release build): with `TEA_FAULT_NO_SELF_CHECK` set it submits what
/// its checks would withhold, as a modified worker would, so that a test shows the chain
/// catching it.
fn self_checks() -> bool {
	#[cfg(feature = "test-faults")]
	if std::env::var_os("TEA_FAULT_NO_SELF_CHECK").is_some() {
		return false;
	}
	true
}

/// What [`read`] reads at a finalized block: its number and hash, the node's standing (if
/// registered), the heartbeat and report rules, the evidence rules, and — when the node is not
/// registered — the registration of another EK that holds this TPM's attestation key.
type Read = (
	BlockNumber,
	H256,
	Option<Standing>,
	HeartbeatRules<BlockNumber>,
	ReportRules,
	EvidenceRules,
	Option<Standing>,
);

/// Reads the node's standing and the heartbeat rules at the latest finalized block (no
/// standing: not registered).
async fn read(
	client: &ChainClient,
	node: H256,
	key: [u8; 65],
	runtime: Option<H256>,
	providers: &[String],
) -> Result<Read, ChainError> {
	let url = client.url.as_str();
	let fail = |what: &'static str| move |e: subxt::Error| request_error(url, what, &e);
	let at = client.api.at_current_block().await.map_err(|e| fail("finalized block")(e.into()))?;
	let info: Option<ChainNode> = by_node(&at, url, "Nodes.Nodes", node).await?;
	let record = by_node(&at, url, "Attestation.Records", node).await?;
	let addresses: Option<Vec<Vec<u8>>> = by_node(&at, url, "Nodes.Addresses", node).await?;
	let review: Option<ChainReview> = by_node(&at, url, "Attestation.Reviews", node).await?;
	// A review requested in this block is drawn at the start of the next one.
	let pending: Vec<(H256, Purpose)> = value(&at, url, "Attestation.PendingReviews").await?;
	let under_review = review.is_some() || pending.iter().any(|(n, _)| *n == node);
	let mut reviewers = Vec::new();
	for member in review.iter().flat_map(|r| r.members.iter()) {
		if let Some(info) = by_node::<ChainNode>(&at, url, "Nodes.Nodes", *member).await? {
			reviewers.push(info.peer_id.into_inner());
		}
	}
	let rules: HeartbeatRules<BlockNumber> = value(&at, url, "Attestation.Heartbeats").await?;
	let last_refusal_report = by_node(&at, url, "Actors.LastRefusalReport", node).await?;
	let reports = ReportRules {
		interval: super::constant(&at, url, "Actors.RefusalReportInterval")?,
		max: super::constant(&at, url, "Actors.MaxRefusalReports")?,
	};
	let evidence = EvidenceRules {
		policy: optional(&at, url, "Attestation.Policy").await?,
		last: by_node(&at, url, "Attestation.Evidence", node).await?,
		max_entries: super::constant(&at, url, "Attestation.MaxLogEntries")?,
		runtime_allowed: match runtime {
			Some(runtime) => {
				by_node::<()>(&at, url, "Upgrades.EverAllowed", runtime).await?.is_some()
			}
			None => true,
		},
		unregistered: Vec::new(),
	};
	let mut evidence = evidence;
	for name in providers {
		let key: tea_primitives::Name = name.as_bytes().to_vec().try_into().unwrap_or_default();
		let info: Option<pallet_tea_actors::ProviderInfo> =
			super::by_key(&at, url, "Actors.Providers", key).await?;
		if info.is_none() {
			evidence.unregistered.push(name.clone());
		}
	}
	let standing = info.map(|info| Standing {
		state: info.state,
		since: info.since,
		record,
		under_review,
		reviewers,
		operator: info.operator.into(),
		attestation_key: info.attestation_key,
		peer_id: info.peer_id.into_inner(),
		addresses: addresses.unwrap_or_default(),
		last_refusal_report,
	});
	// Not registered: is this TPM's key registered under another EK (a squat `nodes.claim`
	// removes)?
	let mut key_holder = None;
	if standing.is_none() {
		let other: Option<H256> = super::by_key(&at, url, "Nodes.NodeByKey", key).await?;
		if let Some(other) = other.filter(|other| *other != node) {
			let info: Option<ChainNode> = by_node(&at, url, "Nodes.Nodes", other).await?;
			let record = by_node(&at, url, "Attestation.Records", other).await?;
			key_holder = info.map(|info| Standing {
				state: info.state,
				since: info.since,
				record,
				under_review: false,
				reviewers: Vec::new(),
				operator: info.operator.into(),
				attestation_key: info.attestation_key,
				peer_id: info.peer_id.into_inner(),
				addresses: Vec::new(),
				last_refusal_report: None,
			});
		}
	}
	let (now, hash) = (at.block_number() as BlockNumber, at.block_hash());
	Ok((now, hash, standing, rules, reports, evidence, key_holder))
}

/// The name of a node state, as metrics and logs show it.
pub fn state_name(state: Option<&NodeState<BlockNumber>>) -> &'static str {
	match state {
		None => "unregistered",
		Some(NodeState::Candidate { .. }) => "candidate",
		Some(NodeState::Probation { .. }) => "probation",
		Some(NodeState::Active) => "active",
		Some(NodeState::Quarantined { .. }) => "quarantined",
		Some(NodeState::Exiting { .. }) => "exiting",
	}
}

const REGISTER: &str = "nodes.register";
const CLAIM: &str = "nodes.claim";
const ANNOUNCE: &str = "nodes.setAddresses";
const REPORT: &str = "actors.reportRefusals";
const RECEIPTS: &str = "rewards.submitReceipts";

/// Whether the addresses on chain are not the ones to publish (in any order); nothing to
/// publish is never stale.
fn stale_addresses(announce: &[Vec<u8>], on_chain: &[Vec<u8>]) -> bool {
	let mut want = announce.to_vec();
	let mut have = on_chain.to_vec();
	want.sort();
	have.sort();
	!want.is_empty() && want != have
}
const ATTEST: &str = "attestation.submitAttestation";

/// The outbox record of what node `node` submitted last.
fn last_record(node: H256) -> String {
	format!("duty/last/{}", hex::encode(node.0))
}

/// A purpose as metrics label it.
fn label(purpose: Purpose) -> String {
	format!("{purpose:?}").to_lowercase()
}

/// The purpose and anchor an attestation's outbox entry was stored with.
fn attestation_detail(detail: &[u8]) -> Result<(Purpose, BlockNumber), ChainError> {
	codec::Decode::decode(&mut &detail[..]).map_err(|e| ChainError::Request {
		url: String::new(),
		what: ATTEST,
		reason: format!("the stored detail does not decode: {e}"),
	})
}

/// The outcome of an attestation for `purpose`, counted in the metrics.
fn attested(purpose: Purpose, result: Result<Finalized, ChainError>) -> Result<Done, ChainError> {
	let done = match result {
		Ok(done) => done,
		Err(e) => {
			crate::metrics::attestation(&label(purpose), "failed");
			return Err(e);
		}
	};
	let (purpose, anchor) = attestation_detail(&done.detail)?;
	let rejected = done.events.iter().any(|e| e == "Attestation.QuoteRejected");
	crate::metrics::attestation(&label(purpose), if rejected { "rejected" } else { "accepted" });
	tracing::info!(target: LOG_TARGET, ?purpose, anchor, events = ?done.events, "attested");
	Ok(Done::Attested(Attested { purpose, anchor, events: done.events }))
}

/// The outcome of a refusal report: when the chain settled it without including it (a
/// pallet error, a lapse), or it never was stored, its counts go back into `log`; while it
/// stays stored (a timeout, a lost connection) it is resumed, counts and all.
fn reported(
	signer: &Signer,
	key: &Key,
	log: &SecurityLog,
	taken: &[(ContentId, RefusalCounts)],
	result: Result<Finalized, ChainError>,
) -> Result<Done, ChainError> {
	match result {
		Ok(done) => Ok(Done::Reported { events: done.events }),
		Err(e) => {
			if matches!(signer.pending(key), Ok(None)) {
				log.restore(taken);
			}
			Err(e)
		}
	}
}

/// The outcome of a batch of acknowledged receipts (`ids`; `dropped` before it was sent).
fn batched(
	queue: &AckQueue,
	ids: &[AckId],
	dropped: Vec<(&'static str, u32)>,
	result: Result<Finalized, ChainError>,
) -> Result<Done, ChainError> {
	let settled = queue.settle(ids, result);
	// A timeout or a lapse is followed again (the signer counts those): not counted here.
	let outcome = match &settled {
		Ok(Settled::Counted { .. }) => Some("counted"),
		Ok(Settled::Refused { .. }) => Some("refused"),
		Err(ChainError::Dispatch { error, .. })
			if pallet_tea_rewards::RECEIPT_ERRORS.contains(&error.as_str()) =>
		{
			Some("batch_refused")
		}
		Err(ChainError::Dispatch { .. }) => Some("kept"),
		Err(_) => None,
	};
	if let Some(outcome) = outcome {
		crate::metrics::acks(outcome, ids.len());
	}
	let (events, refused) = match settled? {
		Settled::Counted { events } => (events, None),
		Settled::Refused { error } => (Vec::new(), Some(error)),
	};
	Ok(Done::Receipts { sent: ids.len(), refused, dropped, events })
}

/// Blocks between two registration attempts.
const REGISTER_AGAIN_AFTER: BlockNumber = 10;

/// A node's own duty: what it keeps submitting about itself, and whom it lets in.
pub struct NodeDuty {
	/// The node's TPM.
	pub tpm: TpmHandle,
	/// The operator's signer.
	pub signer: Arc<Signer>,
	/// The node's libp2p peer id (multihash bytes), as it registers it.
	pub peer_id: Vec<u8>,
	/// Who may ask for the node's TPM work.
	pub gate: Arc<Mutex<Gate>>,
	/// The endpoint whose allow-list follows the chain's registered nodes.
	pub network: Option<Network>,
	/// Peers allowed besides the registered ones (configured addresses' peer ids).
	pub extra_peers: Vec<libp2p::PeerId>,
	/// What it last submitted.
	pub last: Option<Submitted>,
	/// When it last tried to register.
	pub registered_at: Option<BlockNumber>,
	/// The addresses it publishes on chain (binary multiaddrs, at most 4).
	pub announce: Vec<Vec<u8>>,
	/// When it last tried to publish them.
	pub announced_at: Option<BlockNumber>,
	/// The node's standing as last read (for `/health`).
	pub standing: Arc<Mutex<Option<(BlockNumber, String)>>>,
	/// Whether it registers and attests (a dev chain's genesis node has no TPM behind its
	/// registered keys: it only keeps the allow-list, its standing and its addresses).
	pub attest: bool,
	/// The node's id.
	pub node: H256,
	/// The PCR its event log is kept in (the chain's policy must name the same one).
	pub log_pcr: u8,
	/// Why this process was not measured by `tea-worker launch` (none: it was); it then does
	/// not attest.
	pub not_launched: Option<String>,
	/// This worker's measurement (the SHA-256 of its binary), checked against the chain's
	/// allowlist before it quotes.
	pub runtime: Option<[u8; 32]>,
	/// The providers this worker enabled (and logged), checked against the chain's registry
	/// before it quotes.
	pub providers: Vec<String>,
	/// The receipt key this process made and logged (none: it logged none): a log whose
	/// latest receipt key is another is not quoted ([`foreign_receipt_key`]).
	pub receipt_key: Option<[u8; 32]>,
	/// When a quote was last withheld (it is not tried again for a few blocks).
	withheld_at: Option<BlockNumber>,
	/// What its mini-runtime refused, reported on chain while the node is trusted (none: no
	/// reports).
	pub refusals: Option<SecurityLog>,
	/// Its clients' acknowledged receipts, sent in batches while the node serves (none: not
	/// sent).
	pub acks: Option<Arc<AckQueue>>,
	/// When it last sent a batch.
	acks_at: Option<BlockNumber>,
	/// Whether a submission is in flight.
	busy: bool,
	/// Outcomes of submissions (they outlive a lost connection).
	done: (
		tokio::sync::mpsc::UnboundedSender<Result<Done, ChainError>>,
		tokio::sync::mpsc::UnboundedReceiver<Result<Done, ChainError>>,
	),
}

/// What the node duty did at one block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Done {
	/// It registered the node.
	Registered {
		/// The events.
		events: Vec<String>,
	},
	/// It attested.
	Attested(Attested),
	/// It published the node's addresses.
	Announced {
		/// The events.
		events: Vec<String>,
	},
	/// It reported refusals against releases.
	Reported {
		/// The events.
		events: Vec<String>,
	},
	/// It sent a batch of acknowledged receipts (or only dropped what would not count).
	Receipts {
		/// How many it sent.
		sent: usize,
		/// The chain's error for a lone receipt it refused (dropped).
		refused: Option<String>,
		/// What it dropped before sending, by reason.
		dropped: Vec<(&'static str, u32)>,
		/// The events.
		events: Vec<String>,
	},
}

impl NodeDuty {
	/// The duty of node `node` (`attest`: registers and attests; otherwise it only keeps the
	/// gate, the allow-list and the standing).
	#[allow(clippy::too_many_arguments)]
	pub fn new(
		node: H256,
		attest: bool,
		tpm: TpmHandle,
		signer: Arc<Signer>,
		peer_id: Vec<u8>,
		gate: Arc<Mutex<Gate>>,
		network: Option<Network>,
		extra_peers: Vec<libp2p::PeerId>,
		standing: Arc<Mutex<Option<(BlockNumber, String)>>>,
	) -> Self {
		let last = signer.outbox().record(&last_record(node)).unwrap_or_else(|e| {
			tracing::error!(target: LOG_TARGET, error = %e, "the last submission is not known");
			None
		});
		Self {
			tpm,
			signer,
			peer_id,
			gate,
			network,
			extra_peers,
			last,
			registered_at: None,
			announce: Vec::new(),
			announced_at: None,
			standing,
			attest,
			node,
			log_pcr: crate::evidence::DEFAULT_LOG_PCR,
			not_launched: None,
			runtime: None,
			providers: Vec::new(),
			receipt_key: None,
			withheld_at: None,
			refusals: None,
			acks: None,
			acks_at: None,
			busy: false,
			done: tokio::sync::mpsc::unbounded_channel(),
		}
	}

	fn identity(&self) -> &Identity {
		self.tpm.identity()
	}

	/// Follows finalized blocks until `stop` is set (returns `Ok`) or the connection is lost
	/// (returns the error): registers the node unless the chain has it, submits what [`due`]
	/// says, keeps the gate letting exactly the members of the node's open review through and
	/// the endpoint's allow-list at the registered nodes. `report` sees what it did.
	pub async fn follow(
		&mut self,
		client: &Arc<ChainClient>,
		stop: &tokio::sync::watch::Receiver<bool>,
		report: &mut (dyn FnMut(&Done) + Send),
	) -> Result<(), ChainError> {
		let node = self.node;
		let mut blocks = client.finalized_blocks().await?;
		let mut stop = stop.clone();
		loop {
			// Submissions run on their own task, so the gate and the allow-list keep following
			// every block while one waits for finality (and a stop lets it finish).
			tokio::select! {
				block = client.next_finalized(&mut blocks) => { block?; }
				Some(outcome) = self.done.1.recv() => {
					self.busy = false;
					match outcome {
						Ok(done) => report(&done),
						Err(e) => {
							tracing::warn!(target: LOG_TARGET, error = %e, "submission failed; trying again");
							self.lapsed(&e);
						}
					}
					continue;
				}
				_ = stop.wait_for(|stop| *stop) => return Ok(()),
			}
			if let Err(e) = self.allow_registered(client).await {
				tracing::warn!(target: LOG_TARGET, error = %e, "registered peers not read; trying again next block");
			}
			let runtime = self.runtime.map(H256);
			let key = self.identity().attestation_key;
			let (now, hash, standing, rules, reports, evidence, key_holder) =
				match read(client, node, key, runtime, &self.providers).await {
					Ok(read) => read,
					Err(e) => {
						tracing::warn!(target: LOG_TARGET, error = %e, "standing not read; trying again next block");
						continue;
					}
				};
			let name = state_name(standing.as_ref().map(|s| &s.state));
			crate::metrics::node_state(name);
			*self.standing.lock().expect("not poisoned") = Some((now, name.to_string()));
			// Acknowledgements are taken while the node sends receipts: it attests and serves.
			if let Some(queue) = &self.acks {
				let serving = self.attest
					&& standing.as_ref().is_some_and(|s| {
						matches!(s.state, NodeState::Active | NodeState::Probation { .. })
					});
				match queue.follow(client, serving).await {
					Ok(0) => {}
					Ok(stale) => {
						tracing::info!(target: LOG_TARGET, stale, "a new reward era: acknowledged receipts of the ended one dropped");
						let stale = u32::try_from(stale).unwrap_or(u32::MAX);
						crate::metrics::acks("stale", stale as usize);
						report(&Done::Receipts {
							sent: 0,
							refused: None,
							dropped: vec![("stale", stale)],
							events: Vec::new(),
						});
					}
					Err(e) => {
						tracing::warn!(target: LOG_TARGET, error = %e, "the reward era not read; trying again next block")
					}
				}
			}
			if let Ok(lag) = super::finality_lag(client, u64::from(now)).await {
				crate::metrics::chain(u64::from(now), lag, true);
			}
			if let Some(standing) = &standing {
				self.gate
					.lock()
					.expect("not poisoned")
					.set_members(standing.reviewers.iter().cloned());
			}
			tracing::debug!(target: LOG_TARGET, now, state = name, busy = self.busy, last = ?self.last, "node duty");
			// The event log learns what the chain accepted (actor loads that might not fit in the
			// next quote wait), and a log filling up owes a heartbeat early. Only for a node
			// that attests: a genesis node's log is never quoted, so nothing waits for it.
			let unproven = match (&evidence.policy, self.attest) {
				(Some(_), true) => {
					let (base, max) = (evidence.base(), evidence.max_entries);
					self.tpm.run(move |tpm| tpm.set_chain(base, max)).await.unwrap_or(0)
				}
				_ => 0,
			};
			if self.busy {
				continue;
			}
			// A stored submission (from before a restart, or one that timed out) is followed
			// until the chain settles it before anything new is decided.
			match self.resume_stored(client) {
				Ok(true) => continue,
				Ok(false) => {}
				Err(e) => {
					tracing::error!(target: LOG_TARGET, error = %e, "outbox not read; trying again next block");
					continue;
				}
			}
			let account: [u8; 32] = self.signer.account().0;
			let Some(standing) = standing else {
				if !self.attest
					|| self
						.registered_at
						.is_some_and(|at| now < at.saturating_add(REGISTER_AGAIN_AFTER))
				{
					continue;
				}
				self.registered_at = Some(now);
				// This TPM's key under another EK: claimed (removed), this node registered.
				if let Some(holder) = key_holder {
					if claimable(&holder, &account, &key) {
						self.claim(client, now, &hash.0, &holder).await;
					} else {
						tracing::error!(
							target: LOG_TARGET,
							holder = %hex::encode(holder.operator),
							"this TPM's attestation key is registered under another EK and that registration cannot be claimed (it is this operator's, or complete): exit it, or report it; not registering"
						);
					}
					continue;
				}
				let id = self.identity();
				let call = dynamic::transaction(
					"Nodes",
					"register",
					(
						Static(id.ek_public.clone()),
						Static(id.ek_certificate.clone()),
						Static(id.attestation_key),
						Static(self.peer_id.clone()),
					),
				);
				tracing::info!(target: LOG_TARGET, node = %hex::encode(id.node_id), "registering the node");
				let key = Key::Register { node: node.0 };
				self.spawn(client, move |signer, client| async move {
					let done = signer.submit(&client, key, &call, REGISTER, Vec::new()).await?;
					Ok(Done::Registered { events: done.events })
				});
				continue;
			};
			if self.attest && claimable(&standing, &account, &key) {
				if self
					.registered_at
					.is_none_or(|at| now >= at.saturating_add(REGISTER_AGAIN_AFTER))
				{
					self.registered_at = Some(now);
					self.claim(client, now, &hash.0, &standing).await;
				}
				continue;
			}
			if let Some(why) = foreign_registration(&standing, &account, &self.peer_id) {
				if self
					.registered_at
					.is_none_or(|at| now >= at.saturating_add(REGISTER_AGAIN_AFTER))
				{
					tracing::error!(target: LOG_TARGET, node = %hex::encode(node.0), "{why}");
					self.registered_at = Some(now);
				}
				continue;
			}
			// Where reviewers reach it, before it asks for a review (tried again every
			// REGISTER_AGAIN_AFTER blocks while the chain's differ; never in the way of an
			// attestation for longer).
			if stale_addresses(&self.announce, &standing.addresses)
				&& self.announced_at.is_none_or(|at| now >= at.saturating_add(REGISTER_AGAIN_AFTER))
			{
				self.announced_at = Some(now);
				let call = dynamic::transaction(
					"Nodes",
					"set_addresses",
					(Static(node), Static(self.announce.clone())),
				);
				let key = Key::Addresses { node: node.0 };
				tracing::info!(target: LOG_TARGET, addresses = self.announce.len(), "publishing the node's addresses");
				self.spawn(client, move |signer, client| async move {
					let done = signer.submit(&client, key, &call, ANNOUNCE, Vec::new()).await?;
					Ok(Done::Announced { events: done.events })
				});
				continue;
			}
			// A dev chain's genesis node publishes where it listens, and attests nothing.
			if !self.attest {
				self.report_refusals(client, &standing, reports, now);
				continue;
			}
			let owed = due(&standing, &rules, now, self.last).or_else(|| {
				early_heartbeat(&standing, now, self.last, unproven, evidence.max_entries)
			});
			tracing::debug!(target: LOG_TARGET, now, ?owed, record = ?standing.record, ?rules, "owed");
			// Refusals and receipts are sent when nothing about the node itself is owed.
			let Some(purpose) = owed else {
				self.report_refusals(client, &standing, reports, now);
				if !self.busy {
					self.send_receipts(client, &standing, now);
				}
				continue;
			};
			let nonce = challenge(&hash.0, &node.0, &account, purpose).to_vec();
			// A withheld quote would be withheld again: not before it could have landed.
			if self.withheld_at.is_some_and(|at| now < at.saturating_add(RESUBMIT_AFTER)) {
				continue;
			}
			let Some((quote, log)) = self.quote(purpose, nonce, &evidence, now).await else {
				continue;
			};
			let appeals =
				appeals_in(self.last, standing.since) + u32::from(purpose == Purpose::Appeal);
			let submitted = Submitted { purpose, anchor: now, since: standing.since, appeals };
			self.last = Some(submitted);
			if let Err(e) = self.signer.outbox().keep(&last_record(node), &submitted) {
				tracing::error!(target: LOG_TARGET, error = %e, "the submission is not recorded; not submitting");
				continue;
			}
			let call = dynamic::transaction(
				"Attestation",
				"submit_attestation",
				(
					Static(node),
					Static(purpose),
					now,
					Static(quote.attest),
					Static(quote.signature),
					Static(quote.pcrs),
					Static(log),
				),
			);
			let key = Key::Attest { node: node.0 };
			self.spawn(client, move |signer, client| async move {
				crate::metrics::attestation(&label(purpose), "sent");
				let detail = codec::Encode::encode(&(purpose, now));
				attested(purpose, signer.submit(&client, key, &call, ATTEST, detail).await)
			});
		}
	}

	/// Takes over another account's provisional registration of this node: quotes the `Claim`
	/// challenge of this node and the operator (anchored at finalized block `now`, whose hash is
	/// `hash`) and submits `nodes.claim` with this worker's registration.
	async fn claim(
		&mut self,
		client: &Arc<ChainClient>,
		now: BlockNumber,
		hash: &[u8; 32],
		standing: &Standing,
	) {
		let account: [u8; 32] = self.signer.account().0;
		tracing::warn!(
			target: LOG_TARGET,
			node = %hex::encode(self.node.0),
			squatter = %hex::encode(standing.operator),
			"another account registered this node's keys and never attested: claiming the registration"
		);
		let nonce = challenge(hash, &self.node.0, &account, Purpose::Claim).to_vec();
		let pcrs = [self.log_pcr];
		let quote = match self.tpm.run(move |tpm| tpm.quote_pcrs(&nonce, &pcrs)).await {
			Ok(quote) => quote,
			Err(e) => {
				tracing::error!(target: LOG_TARGET, error = %e, "TPM quote for the claim failed; trying again");
				return;
			}
		};
		let id = self.identity();
		let proof = pallet_tea_nodes::PossessionProof {
			anchor: now,
			attest: quote.attest.try_into().unwrap_or_default(),
			signature: quote.signature.try_into().unwrap_or_default(),
			pcrs: quote.pcrs.try_into().unwrap_or_default(),
		};
		let call = dynamic::transaction(
			"Nodes",
			"claim",
			(
				Static(id.ek_public.clone()),
				Static(id.ek_certificate.clone()),
				Static(id.attestation_key),
				Static(self.peer_id.clone()),
				Static(proof),
			),
		);
		let key = Key::Register { node: self.node.0 };
		self.spawn(client, move |signer, client| async move {
			let done = signer.submit(&client, key, &call, CLAIM, Vec::new()).await?;
			Ok(Done::Registered { events: done.events })
		});
	}

	/// A quote over `nonce` as `rules` require it, with the event log entries it carries;
	/// none (the reason logged) when the TPM failed or the chain would not take it.
	async fn quote(
		&mut self,
		purpose: Purpose,
		nonce: Vec<u8>,
		rules: &EvidenceRules,
		now: BlockNumber,
	) -> Option<(crate::tpm::Quote, Vec<LogEvent>)> {
		self.withheld_at = Some(now);
		let withheld = |why: &str| {
			crate::metrics::attestation(&label(purpose), "withheld");
			tracing::error!(target: LOG_TARGET, ?purpose, "not attesting: {why}");
		};
		let Some(policy) = &rules.policy else {
			withheld("the chain has no attestation policy (governance sets one with `attestation.setPolicy`): a quote would prove nothing about what runs here");
			return None;
		};
		if !policy.is_log_pcr(self.log_pcr) {
			withheld(&format!(
				"the chain's policy keeps the event log in another PCR than this worker's `log_pcr` ({}): {:?}",
				self.log_pcr, policy.pcrs
			));
			return None;
		}
		if let Some(why) = &self.not_launched {
			withheld(why);
			return None;
		}
		if !rules.unregistered.is_empty() && self_checks() {
			withheld(&format!(
				"this build enables providers the chain does not register ({}): its log would \
				 quarantine the node; governance registers them (`actors.registerProvider`)",
				rules.unregistered.join(", ")
			));
			return None;
		}
		if !rules.runtime_allowed && self_checks() {
			withheld(&format!(
				"governance never allowed this build (measurement {}, \
				 `upgrades.allowMeasurement`): its first quote would quarantine the node",
				self.runtime.map(|r| crate::hex0x(&r)).unwrap_or_default()
			));
			return None;
		}
		let selection: Vec<u8> = policy.selection().collect();
		let base = rules.base();
		let quoted = self.tpm.run(move |tpm| tpm.quote_with_log(&nonce, &selection, base)).await;
		let (quote, log) = match quoted {
			Ok(quoted) => quoted,
			Err(e) => {
				tracing::error!(target: LOG_TARGET, ?purpose, error = %e, "TPM quote failed; trying again next block");
				return None;
			}
		};
		let why = unfit_evidence(rules, quote.clock.reset_count, &quote.pcrs, &log).or_else(|| {
			foreign_receipt_key(&log, self.receipt_key).then(|| {
				"a receipt key this process did not make was logged after its own: another \
				 program extends the log PCR and writes the event log, and receipts signed with \
				 that key would verify; the node does not attest until the TPM is reset"
					.to_owned()
			})
		});
		if let Some(why) = why.filter(|_| self_checks()) {
			withheld(&format!("{why} ({} log entries)", log.len()));
			return None;
		}
		self.withheld_at = None;
		Some((quote, log))
	}

	/// Reports what the mini-runtime refused since the last report (the most refused
	/// releases first, at most the runtime's `MaxRefusalReports`), once the runtime's interval
	/// has passed since the last report on chain (read at a finalized block, so inclusion comes
	/// later still), and only while the node is trusted (the chain takes reports from trusted
	/// nodes only). The counts travel in the outbox entry: whenever the chain settles it
	/// without including it, they are put back for the next report.
	fn report_refusals(
		&mut self,
		client: &Arc<ChainClient>,
		standing: &Standing,
		rules: ReportRules,
		now: BlockNumber,
	) {
		let Some(log) = self.refusals.clone() else { return };
		let due = standing
			.last_refusal_report
			.is_none_or(|last| now >= last.saturating_add(rules.interval));
		if !matches!(standing.state, NodeState::Active | NodeState::Probation { .. }) || !due {
			return;
		}
		let taken = log.take_counts(rules.max as usize);
		if taken.is_empty() {
			return;
		}
		tracing::info!(target: LOG_TARGET, releases = taken.len(), "reporting refusals");
		let node = self.node;
		let call = dynamic::transaction(
			"Actors",
			"report_refusals",
			(Static(node), Static(taken.clone())),
		);
		let key = Key::Refusals { node: node.0 };
		let detail = codec::Encode::encode(&taken);
		self.spawn(client, move |signer, client| async move {
			let result = signer.submit(&client, key.clone(), &call, REPORT, detail).await;
			reported(&signer, &key, &log, &taken, result)
		});
	}

	/// Sends the oldest acknowledged receipts (what the chain would not count dropped first),
	/// while the node serves: at once when a batch is full, otherwise every
	/// [`BATCH_EVERY`](super::acks::BATCH_EVERY) blocks.
	fn send_receipts(&mut self, client: &Arc<ChainClient>, standing: &Standing, now: BlockNumber) {
		let Some(queue) = self.acks.clone() else { return };
		if !matches!(standing.state, NodeState::Active | NodeState::Probation { .. }) {
			return;
		}
		let queued = match queue.len() {
			Ok(queued) => queued,
			Err(e) => {
				tracing::error!(target: LOG_TARGET, error = %e, "acknowledged receipts not read");
				return;
			}
		};
		let waited =
			self.acks_at.is_none_or(|at| now >= at.saturating_add(super::acks::BATCH_EVERY));
		if queued == 0 || (queued < super::acks::BATCH && !waited) {
			return;
		}
		self.acks_at = Some(now);
		let node = self.node;
		// Receipts of a block before the node became active count at the probation rate.
		let active_since = match standing.state {
			NodeState::Active => standing.since,
			_ => BlockNumber::MAX,
		};
		self.spawn(client, move |signer, client| async move {
			let prepared = queue.prepare(&client, active_since).await?;
			let dropped = prepared.dropped;
			for (why, n) in &dropped {
				crate::metrics::acks(why, *n as usize);
			}
			if prepared.batch.is_empty() {
				return Ok(Done::Receipts { sent: 0, refused: None, dropped, events: Vec::new() });
			}
			let (ids, batch): (Vec<AckId>, Vec<_>) = prepared.batch.into_iter().unzip();
			tracing::info!(target: LOG_TARGET, receipts = ids.len(), "sending acknowledged receipts");
			let call =
				dynamic::transaction("Rewards", "submit_receipts", (Static(node), Static(batch)));
			let key = Key::Receipts { node: node.0 };
			let detail = codec::Encode::encode(&ids);
			let result = signer.submit(&client, key, &call, RECEIPTS, detail).await;
			batched(&queue, &ids, dropped, result)
		});
	}

	/// An appeal that lapsed (never included) does not count against `MAX_APPEALS`.
	fn lapsed(&mut self, error: &ChainError) {
		let Some(last) = uncount_lapsed(self.last, error) else { return };
		self.last = Some(last);
		if let Err(e) = self.signer.outbox().keep(&last_record(self.node), &last) {
			tracing::error!(target: LOG_TARGET, error = %e, "the appeal count is not recorded");
		}
	}

	/// Resumes the registration or attestation stored in the outbox, if one is; whether it
	/// did.
	fn resume_stored(&mut self, client: &Arc<ChainClient>) -> Result<bool, ChainError> {
		let node = self.node.0;
		let plain: [(Key, &'static str, fn(Vec<String>) -> Done); 2] = [
			(Key::Register { node }, REGISTER, |events| Done::Registered { events }),
			(Key::Addresses { node }, ANNOUNCE, |events| Done::Announced { events }),
		];
		for (key, what, done) in plain {
			if self.signer.pending(&key)?.is_some() {
				self.spawn(client, move |signer, client| async move {
					Ok(done(signer.resume(&client, key, what).await?.events))
				});
				return Ok(true);
			}
		}
		let report = Key::Refusals { node };
		if let Some(entry) = self.signer.pending(&report)? {
			let taken: Vec<(ContentId, RefusalCounts)> =
				codec::Decode::decode(&mut &entry.detail[..]).unwrap_or_default();
			let log = self.refusals.clone().unwrap_or_default();
			self.spawn(client, move |signer, client| async move {
				let result = signer.resume(&client, report.clone(), REPORT).await;
				reported(&signer, &report, &log, &taken, result)
			});
			return Ok(true);
		}
		let attest = Key::Attest { node: self.node.0 };
		if let Some(entry) = self.signer.pending(&attest)? {
			let (purpose, _) = attestation_detail(&entry.detail)?;
			self.spawn(client, move |signer, client| async move {
				attested(purpose, signer.resume(&client, attest, ATTEST).await)
			});
			return Ok(true);
		}
		let receipts = Key::Receipts { node };
		if let (Some(entry), Some(queue)) = (self.signer.pending(&receipts)?, self.acks.clone()) {
			let ids: Vec<AckId> = codec::Decode::decode(&mut &entry.detail[..]).unwrap_or_default();
			self.spawn(client, move |signer, client| async move {
				let result = signer.resume(&client, receipts, RECEIPTS).await;
				batched(&queue, &ids, Vec::new(), result)
			});
			return Ok(true);
		}
		Ok(false)
	}

	/// Runs one submission on its own task; its outcome comes back through `done`.
	fn spawn<F>(
		&mut self,
		client: &Arc<ChainClient>,
		submission: impl FnOnce(Arc<Signer>, Arc<ChainClient>) -> F,
	) where
		F: std::future::Future<Output = Result<Done, ChainError>> + Send + 'static,
	{
		use futures::FutureExt;
		self.busy = true;
		let task = submission(self.signer.clone(), client.clone());
		let done = self.done.0.clone();
		tokio::spawn(async move {
			// A panic must not leave the duty busy for good.
			let outcome =
				std::panic::AssertUnwindSafe(task).catch_unwind().await.unwrap_or_else(|_| {
					Err(ChainError::Request {
						url: String::new(),
						what: "submission",
						reason: "the submission task panicked".into(),
					})
				});
			let _ = done.send(outcome);
		});
	}

	/// Lets exactly the registered nodes' peer ids (and the configured peers) connect.
	async fn allow_registered(&self, client: &ChainClient) -> Result<(), ChainError> {
		let Some(network) = &self.network else { return Ok(()) };
		let mut peers = super::registered_peers(client).await?;
		peers.extend(self.extra_peers.iter().copied());
		crate::metrics::peers(peers.len());
		network.allow(peers).await.map_err(|e| ChainError::Request {
			url: client.url.clone(),
			what: "p2p allow-list",
			reason: e.to_string(),
		})
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use pallet_tea_nodes::Offence;

	/// Attack: root writes the worker's event log and extends its own receipt key after the
	/// daemon's, so that receipts it signs would verify. The daemon does not quote such a log.
	#[test]
	fn a_receipt_key_logged_after_this_processs_own_is_never_quoted() {
		let key = |b: u8| LogEvent {
			pcr: 13,
			kind: EventKind::ReceiptKey,
			data: vec![b; 32].try_into().unwrap(),
		};
		let other =
			LogEvent { pcr: 13, kind: EventKind::Actor, data: vec![3; 36].try_into().unwrap() };
		assert!(!foreign_receipt_key(&[key(1)], Some([1; 32])));
		assert!(
			!foreign_receipt_key(&[key(9), key(1), other.clone()], Some([1; 32])),
			"an earlier process's"
		);
		assert!(
			!foreign_receipt_key(&[other.clone()], Some([1; 32])),
			"none in this part of the log"
		);
		assert!(foreign_receipt_key(&[key(1), key(9)], Some([1; 32])));
		assert!(foreign_receipt_key(&[key(1), other, key(9)], Some([1; 32])));
		assert!(!foreign_receipt_key(&[key(9)], None), "a process that logged no key judges none");
	}

	const RULES: HeartbeatRules<BlockNumber> = HeartbeatRules { period: 20, max_missed: 2 };

	fn standing(
		state: NodeState<BlockNumber>,
		since: BlockNumber,
		last: Option<(BlockNumber, Option<BlockNumber>)>,
	) -> Standing {
		let record = last.map(|(last_anchor, last_valid)| Record {
			last_anchor,
			last_valid,
			measurement: None,
			missed: 0,
			vetted: true,
		});
		Standing {
			state,
			since,
			record,
			under_review: false,
			reviewers: vec![],
			operator: [1; 32],
			attestation_key: [4; 65],
			peer_id: b"peer".to_vec(),
			addresses: vec![],
			last_refusal_report: None,
		}
	}

	#[test]
	fn addresses_are_published_when_the_chains_differ() {
		let (a, b) = (b"/ip4/a".to_vec(), b"/ip4/b".to_vec());
		assert!(stale_addresses(&[a.clone(), b.clone()], &[]));
		assert!(!stale_addresses(&[a.clone(), b.clone()], &[b.clone(), a.clone()]), "any order");
		assert!(stale_addresses(&[a.clone()], &[a.clone(), b.clone()]));
		assert!(!stale_addresses(&[], &[a]), "nothing configured to publish");
	}

	#[test]
	fn heartbeats_are_owed_half_a_period_after_the_last_valid_attestation() {
		let active = standing(NodeState::Active, 50, Some((100, Some(101))));
		assert_eq!(due(&active, &RULES, 110, None), None);
		assert_eq!(due(&active, &RULES, 111, None), Some(Purpose::Heartbeat));
		// Probation too; a node that entered its state recently counts from then.
		let probation =
			standing(NodeState::Probation { clean_epochs: 0 }, 105, Some((100, Some(101))));
		assert_eq!(due(&probation, &RULES, 111, None), None);
		assert_eq!(due(&probation, &RULES, 115, None), Some(Purpose::Heartbeat));
		// Never attested at all.
		assert_eq!(
			due(&standing(NodeState::Active, 0, None), &RULES, 10, None),
			Some(Purpose::Heartbeat)
		);
	}

	#[test]
	fn a_submitted_heartbeat_is_not_repeated_until_it_had_time_to_land() {
		let active = standing(NodeState::Active, 0, Some((90, Some(91))));
		let sent = Submitted { purpose: Purpose::Heartbeat, anchor: 110, since: 0, appeals: 0 };
		assert_eq!(due(&active, &RULES, 111, Some(sent)), None);
		assert_eq!(due(&active, &RULES, 114, Some(sent)), Some(Purpose::Heartbeat));
		// The chain took an anchor this late already: wait for a later block.
		let active = standing(NodeState::Active, 0, Some((120, Some(91))));
		assert_eq!(due(&active, &RULES, 120, None), None);
	}

	#[test]
	fn a_quarantined_node_appeals_until_a_committee_decides_or_the_window_ends() {
		let state =
			NodeState::Quarantined { appeal_until: 200, offence: Offence::MissedHeartbeats };
		let mut q = standing(state.clone(), 150, None);
		assert_eq!(due(&q, &RULES, 151, None), Some(Purpose::Appeal));
		let sent = Submitted { purpose: Purpose::Appeal, anchor: 151, since: 150, appeals: 1 };
		// Not again while it may still land, nor while a committee reviews it...
		assert_eq!(due(&q, &RULES, 153, Some(sent)), None);
		q.under_review = true;
		assert_eq!(due(&q, &RULES, 170, Some(sent)), None);
		// ...but again if it is still quarantined afterwards (a failed submission, a committee
		// without a majority), up to MAX_APPEALS times.
		q.under_review = false;
		assert_eq!(due(&q, &RULES, 170, Some(sent)), Some(Purpose::Appeal));
		let third = Submitted { appeals: MAX_APPEALS, ..sent };
		assert_eq!(due(&q, &RULES, 190, Some(third)), None);
		// A later quarantine starts over; an expired window is the end.
		let later = standing(state, 170, None);
		assert_eq!(due(&later, &RULES, 180, Some(third)), Some(Purpose::Appeal));
		assert_eq!(due(&q, &RULES, 200, None), None);
	}

	#[test]
	fn an_unattested_candidate_quotes_for_admission_until_a_committee_decides() {
		let mut c = standing(NodeState::Candidate { attested: false }, 10, None);
		assert_eq!(due(&c, &RULES, 11, None), Some(Purpose::Admission));
		let sent = Submitted { purpose: Purpose::Admission, anchor: 11, since: 10, appeals: 0 };
		assert_eq!(due(&c, &RULES, 13, Some(sent)), None, "it may still land");
		c.under_review = true;
		assert_eq!(due(&c, &RULES, 20, Some(sent)), None, "a committee reviews it");
		c.under_review = false;
		assert_eq!(due(&c, &RULES, 20, Some(sent)), Some(Purpose::Admission), "no majority");
	}

	#[test]
	fn a_registration_by_another_operator_or_peer_is_not_this_workers() {
		let s = standing(NodeState::Active, 0, None);
		assert_eq!(foreign_registration(&s, &[1; 32], b"peer"), None);
		let why = foreign_registration(&s, &[2; 32], b"peer").unwrap();
		assert!(why.contains("another operator (0x0101"), "{why}");
		let why = foreign_registration(&s, &[1; 32], b"other").unwrap();
		assert!(why.contains("another libp2p peer id"), "{why}");
	}

	#[test]
	fn only_another_operators_provisional_registration_of_this_key_is_claimed() {
		let mut s = standing(NodeState::Candidate { attested: false }, 0, None);
		assert!(claimable(&s, &[2; 32], &[4; 65]));
		assert!(!claimable(&s, &[1; 32], &[4; 65]), "its own");
		assert!(!claimable(&s, &[2; 32], &[5; 65]), "another key: the committee's question");
		s.under_review = true;
		assert!(!claimable(&s, &[2; 32], &[4; 65]), "its quote verified: under review");
		s.under_review = false;
		let quoted = standing(NodeState::Candidate { attested: false }, 0, Some((3, Some(4))));
		assert!(!claimable(&quoted, &[2; 32], &[4; 65]), "a quote of its verified");
		for state in [
			NodeState::Candidate { attested: true },
			NodeState::Probation { clean_epochs: 0 },
			NodeState::Active,
		] {
			s.state = state;
			assert!(!claimable(&s, &[2; 32], &[4; 65]), "{:?} completed", s.state);
		}
	}

	#[test]
	fn a_lapsed_appeal_does_not_count_against_the_limit() {
		let appeal = Submitted { purpose: Purpose::Appeal, anchor: 9, since: 5, appeals: 2 };
		let lapsed = |what| ChainError::Lapsed { what, reason: String::new() };
		assert_eq!(
			uncount_lapsed(Some(appeal), &lapsed(ATTEST)),
			Some(Submitted { appeals: 1, ..appeal })
		);
		assert_eq!(uncount_lapsed(Some(appeal), &lapsed(REGISTER)), None, "not an attestation");
		let heartbeat = Submitted { purpose: Purpose::Heartbeat, ..appeal };
		assert_eq!(uncount_lapsed(Some(heartbeat), &lapsed(ATTEST)), None);
		let failed = ChainError::Request { url: String::new(), what: ATTEST, reason: "x".into() };
		assert_eq!(uncount_lapsed(Some(appeal), &failed), None, "a failure may still land");
	}

	#[test]
	fn a_log_half_full_of_unproven_entries_owes_a_heartbeat_early() {
		let active = standing(NodeState::Active, 0, Some((100, Some(101))));
		assert_eq!(due(&active, &RULES, 105, None), None, "not owed by the period yet");
		assert_eq!(early_heartbeat(&active, 105, None, 31, 64), None);
		assert_eq!(early_heartbeat(&active, 105, None, 32, 64), Some(Purpose::Heartbeat));
		// Not while one may still land, nor at an anchor the chain took already.
		let sent = Submitted { purpose: Purpose::Heartbeat, anchor: 104, since: 0, appeals: 0 };
		assert_eq!(early_heartbeat(&active, 105, Some(sent), 40, 64), None);
		assert_eq!(early_heartbeat(&active, 100, None, 40, 64), None);
		// Only trusted nodes heartbeat; a candidate's admission quote carries its log anyway.
		let candidate = standing(NodeState::Candidate { attested: true }, 0, None);
		assert_eq!(early_heartbeat(&candidate, 105, None, 40, 64), None);
	}

	#[test]
	fn attested_candidates_and_exiting_nodes_owe_nothing() {
		for state in
			[NodeState::Candidate { attested: true }, NodeState::Exiting { unbond_at: 500 }]
		{
			assert_eq!(due(&standing(state, 0, None), &RULES, 300, None), None);
		}
	}
}
