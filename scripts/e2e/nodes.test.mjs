// pallet-tea-nodes + pallet-tea-attestation end to end against `tea-node --dev`, with every
// node a `tea-worker run` daemon: the dev chain's three genesis nodes (`--genesis Alice|Bob|
// Charlie`) serve on committees; workers with a managed swtpm whose EK a development CA
// certified (`--tpm swtpm --dev-ca DIR`) register themselves, submit their admission quote,
// answer their reviewers' credential challenges and, once the committee admitted them, go
// through probation to Active on the dev chain's 4-second epochs (2-second blocks). A worker certified by an
// unknown CA is rejected; a node quarantined for a tampered quote is cleared on the appeal its
// daemon makes by itself. The daemons' /metrics and /health answer, a restarted daemon does
// not register twice, and SIGINT stops a daemon and its swtpm.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady, ed25519Verify, sha256AsU8a } from '@polkadot/util-crypto';
import { hexToU8a, stringToHex, stringToU8a, u8aConcat, u8aToHex } from '@polkadot/util';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import {
  startNode, connect, stopAll, send, nextEvent, worker, startSwtpm, startWorker, tempDir, freePort,
  sleep, TEA_WORKER,
} from './lib.mjs';
import * as releases from './releases.mjs';
import { actorWasm, cidText } from './wasm.mjs';

let node;
let api;
let keys;
/** The daemons the first test leaves running (Active workers and the genesis members). */
let net;

before(async () => {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: 'sr25519' });
  keys = Object.fromEntries(['Alice', 'Bob', 'Charlie', 'Dave', 'Eve', 'Ferdie', 'Squatter', 'Nobody']
    .map((n) => [n, keyring.addFromUri(`//${n}`)]));
  node = await startNode('nodes', ['--dev']);
  api = await connect(node);
});

after(async () => {
  if (api) await api.disconnect().catch(() => {});
  await stopAll();
});

/** Runs `tea-worker <args>` and parses its JSON. */
function json(args) {
  const res = worker(args);
  assert.equal(res.status, 0, `tea-worker ${args.join(' ')}: ${res.stderr}`);
  return JSON.parse(res.stdout);
}
const tpm = (args) => json(['tpm', ...args]);

/** A development TPM vendor CA (`tea-worker committee dev-ca`). */
function devCa(name) {
  const dir = join(tempDir(`ca-${name}`), 'ca');
  return { dir, setupConf: join(dir, 'setup.conf'), ...json(['committee', 'dev-ca', dir]) };
}

/** `tea-worker launch` (measured, then `run`) with `args`; resolves with the daemon and its
 * `started` line. */
async function daemon(name, args, dataDir = tempDir(`daemon-${name}`)) {
  const w = await startWorker(name, ['launch', '--chain', node.ws, '--data-dir', dataDir,
    '--metrics', '127.0.0.1:0', '--api', '127.0.0.1:0', '--tasks', '127.0.0.1:0', ...args], 120_000);
  const { started } = await w.nextLine(0, 120_000);
  return { ...w, dataDir, started, args };
}

/** Resolves with daemon `w`'s exit code; fails after `ms` with what it printed. */
function exitOf(w, ms = 120_000) {
  return new Promise((resolve, reject) => {
    if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve(w.child.exitCode);
    const timer = setTimeout(() => reject(new Error(`daemon did not exit in ${ms} ms: ${JSON.stringify(
      { lines: w.lines.slice(-10), stderr: w.stderr() })}`)), ms);
    w.child.once('exit', (code) => { clearTimeout(timer); resolve(code); });
  });
}

/** The first line at or after `from` of daemon `w` that `pick` accepts, within `ms`. */
async function lineOf(w, pick, from = 1, ms = 150_000) {
  const deadline = Date.now() + ms;
  for (let i = from; ; i++) {
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new Error(`no such line within ${ms} ms: ${JSON.stringify({ lines: w.lines.slice(from).slice(-12), stderr: w.stderr() })}`);
    }
    const line = await w.nextLine(i, left);
    if (pick(line)) return line;
  }
}

const state = async (id) => (await api.query.nodes.nodes(id)).unwrap().state.toJSON();

/** Resolves once node `id` is in a state `pick` accepts (checked at every new head). */
async function reaches(id, pick, ms = 240_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await state(id);
    if (pick(s)) return s;
    if (Date.now() > deadline) throw new Error(`node ${id} still ${JSON.stringify(s)} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

test('tea-worker run: workers register, are admitted by the genesis daemons and become active; an unknown CA is rejected; a quarantined node appeals by itself', async () => {
  const vendor = devCa('vendor');
  const rogue = devCa('rogue');
  // Governance allows the measurement of this tea-worker build (its SHA-256, what the launcher
  // logs) and the vendor's CA key.
  const { measurement } = tpm(['measurement']);
  await send(api, api.tx.sudo.sudo(api.tx.utility.batchAll([
    api.tx.upgrades.allowMeasurement(measurement), api.tx.upgrades.addCaKey(vendor.caKey)])), keys.Alice);
  assert.equal((await api.query.upgrades.caKeys(vendor.keyHash)).unwrap().toHex(), vendor.caKey);

  // A squatter registers other nodes' public keys under its own account first; it can never
  // complete those registrations (the challenge binds the operator), and the keys' holders
  // claim them.
  const squatter = keys.Squatter;
  await send(api, api.tx.balances.transferKeepAlive(squatter.address, 1000n * 10n ** 12n), keys.Alice);
  const reserved = async (who) => (await api.query.system.account(who.address)).data.reserved.toBigInt();

  // The node "bad": its EK and AK squatted, claimed by hand (a `Claim` quote for Eve's
  // account), then quarantined for a tampered admission quote.
  const badTcti = await startSwtpm('bad', vendor);
  const badKey = join(tempDir('p2p-bad'), 'p2p.key');
  const badId = tpm(['identity', '--tpm', badTcti, '--p2p-key', badKey]);
  await send(api, api.tx.nodes.register(badId.ekPublic, badId.ekCertificate, badId.attestationKey,
    stringToHex('squatter')), squatter);
  await assert.rejects(send(api, api.tx.nodes.register(badId.ekPublic, badId.ekCertificate,
    badId.attestationKey, badId.peerIdBytes), keys.Eve), /nodes\.NodeExists/);
  {
    // The squatter's own admission quote: a quote the node's TPM made for Eve, relayed.
    const [anchor, nonce] = await api.call.attestationApi.challenge(badId.nodeId, keys.Eve.address, 'Admission');
    const q = tpm(['quote', '--tpm', badTcti, '--nonce', nonce.toHex()]);
    await assert.rejects(send(api, api.tx.attestation.submitAttestation(badId.nodeId, 'Admission',
      anchor, q.attest, q.signature, q.pcrs, []), squatter), /attestation\.StaleChallenge/);
  }
  const [claimAnchor, claimNonce] = await api.call.attestationApi.challenge(badId.nodeId, keys.Eve.address, 'Claim');
  const c = tpm(['quote', '--tpm', badTcti, '--nonce', claimNonce.toHex()]);
  const claimedBad = await send(api, api.tx.nodes.claim(badId.ekPublic, badId.ekCertificate,
    badId.attestationKey, badId.peerIdBytes, { anchor: claimAnchor, attest: c.attest, signature: c.signature, pcrs: c.pcrs }), keys.Eve);
  assert.ok(claimedBad.some((e) => e.section === 'nodes' && e.method === 'Claimed'));
  assert.equal((await api.query.nodes.nodes(badId.nodeId)).unwrap().operator.toString(), keys.Eve.address);
  assert.equal(await reserved(squatter), 0n, 'the squatter got its deposit back');
  const [anchor, nonce] = await api.call.attestationApi.challenge(badId.nodeId, keys.Eve.address, 'Admission');
  const t = tpm(['quote', '--tpm', badTcti, '--nonce', nonce.toHex()]);
  t.pcrs[0][1] = `0x${'ab'.repeat(32)}`;
  const rejected = await send(api, api.tx.attestation.submitAttestation(badId.nodeId, 'Admission',
    anchor, t.attest, t.signature, t.pcrs, []), keys.Eve);
  const why = rejected.find((e) => e.section === 'attestation' && e.method === 'QuoteRejected');
  assert.deepEqual(why.data.offence.toJSON(), { failedQuote: 'PcrDigestMismatch' });
  assert.deepEqual((await state(badId.nodeId)).quarantined.offence, { failedQuote: 'PcrDigestMismatch' });

  // The node "uncertified": its AK squatted under an EK of the squatter's making before its
  // daemon starts; the daemon finds its key taken and claims it by itself.
  const uncertifiedTcti = await startSwtpm('uncertified', rogue);
  const uncertifiedKey = join(tempDir('p2p-uncertified'), 'p2p.key');
  const squatted = tpm(['identity', '--tpm', uncertifiedTcti, '--p2p-key', uncertifiedKey]);
  const fakeEk = `0x${'5a'.repeat(48)}`;
  await send(api, api.tx.nodes.register(fakeEk, '0x', squatted.attestationKey, stringToHex('squatter')), squatter);
  const fakeId = (await api.query.nodes.nodeByKey(squatted.attestationKey)).unwrap().toHex();
  assert.notEqual(fakeId, squatted.nodeId);
  assert.ok(await reserved(squatter) > 0n, 'its deposit is held');

  // The genesis nodes' daemons: committee members.
  const ports = { good: await freePort(), uncertified: await freePort(), bad: await freePort() };
  const keyFiles = {
    good: join(tempDir('p2p-good'), 'p2p.key'), uncertified: uncertifiedKey, bad: badKey,
  };
  // No peer list: each worker publishes its listen address on chain and the members reach it
  // there.
  const members = {};
  for (const name of ['Alice', 'Bob', 'Charlie']) {
    members[name] = await daemon(`genesis-${name}`, ['--genesis', name, '--tpm', 'swtpm']);
  }
  const trusted = (await api.query.nodes.nodes.entries())
    .filter(([, v]) => v.unwrap().state.isActive).map(([k]) => k.args[0].toHex());
  assert.deepEqual(Object.values(members).map((m) => m.started.nodeId).sort(), trusted.sort(),
    'the genesis daemons are the dev chain\'s trusted nodes');

  const closed = (id) => nextEvent(api, 'attestation', 'ReviewClosed', (e) => e.data.node.toHex() === id, 240_000);
  const listen = (name) => ['--listen', `/ip4/127.0.0.1/tcp/${ports[name]}`, '--p2p-key', keyFiles[name]];
  const good = await daemon('good', ['--operator', '//Dave', '--tpm', 'swtpm', '--dev-ca', vendor.dir, ...listen('good')]);
  const goodClosed = closed(good.started.nodeId);
  assert.equal(good.started.ekCertificate, true, 'the dev CA certified the managed swtpm');
  const uncertified = await daemon('uncertified', ['--operator', '//Ferdie', '--tpm', uncertifiedTcti, ...listen('uncertified')]);
  assert.equal(uncertified.started.nodeId, squatted.nodeId);
  const uncertifiedClosed = closed(uncertified.started.nodeId);
  const badClosed = closed(badId.nodeId);
  const bad = await daemon('bad', ['--operator', '//Eve', '--tpm', badTcti, ...listen('bad')]);
  assert.equal(bad.started.nodeId, badId.nodeId);

  // Each daemon registers its node by itself, publishes where it listens, then quotes for
  // admission.
  const registered = await lineOf(good, (l) => l.registered, 1, 60_000);
  assert.ok(registered.registered.includes('Nodes.Registered'), JSON.stringify(registered));
  const announced = await lineOf(good, (l) => l.announced, 1, 60_000);
  assert.ok(announced.announced.includes('Nodes.AddressesSet'), JSON.stringify(announced));
  const published = (await api.query.nodes.addresses(good.started.nodeId)).unwrap();
  assert.equal(published.length, 1);
  // /ip4/127.0.0.1/tcp/<port>: 0x04 127.0.0.1, 0x06 the port (big-endian).
  assert.equal(published[0].toHex(), `0x047f00000106${ports.good.toString(16).padStart(4, '0')}`);
  const admission = await lineOf(good, (l) => l.attested === 'Admission');
  assert.ok(admission.events.includes('Attestation.Attested'), JSON.stringify(admission));
  assert.ok(admission.events.includes('Attestation.ReviewRequested'));

  // The committee admits the certified node unanimously and rejects the one whose EK
  // certificate no allowlisted CA signed.
  const verdict = await goodClosed;
  assert.equal(verdict.data.verdict.toJSON(), true);
  assert.deepEqual(verdict.data.noted.toJSON(), []);
  // The squatted node's daemon claimed its key (the squatter got its deposit back) and then
  // went on as any candidate.
  const claimed = await lineOf(uncertified, (l) => l.registered, 1, 60_000);
  assert.ok(claimed.registered.includes('Nodes.Claimed'), JSON.stringify(claimed));
  const claimedInfo = (await api.query.nodes.nodes(squatted.nodeId)).unwrap();
  assert.equal(claimedInfo.operator.toString(), keys.Ferdie.address);
  assert.ok((await api.query.nodes.nodes(fakeId)).isNone, 'the squat is gone');
  assert.equal(await reserved(squatter), 0n, 'deposit returned');
  const refused = await uncertifiedClosed;
  assert.equal(refused.data.verdict.toJSON(), false);
  assert.deepEqual((await state(uncertified.started.nodeId)).quarantined.offence, { committeeRejected: null });
  for (const m of Object.values(members)) {
    const vote = await lineOf(m, (l) => l.voted === uncertified.started.nodeId);
    assert.equal(vote.approve, false);
    assert.match(vote.reason, /no allowlisted TPM vendor CA key/);
  }

  // The quarantined node's daemon appeals by itself with a fresh, valid quote, answering only
  // its reviewers; the committee clears it.
  const appeal = await lineOf(bad, (l) => l.attested === 'Appeal');
  assert.ok(appeal.events.includes('Attestation.ReviewRequested'), JSON.stringify(appeal));
  assert.equal((await badClosed).data.verdict.toJSON(), true);

  // Birth control: probation for one 2-block epoch (3 active: room for one), then Active.
  const active = (s) => s !== null && typeof s === 'object' && 'active' in s;
  await reaches(good.started.nodeId, active);
  await reaches(badId.nodeId, active);

  // Its /metrics and /health say so (the daemon reads finalized state: a block or two later).
  let metrics = '';
  for (let i = 0; i < 30 && !/tea_worker_node_state\{state="active"\} 1/.test(metrics); i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 1000));
    metrics = await (await fetch(good.started.metrics)).text();
  }
  assert.match(metrics, /tea_worker_attestations_total\{outcome="accepted",purpose="admission"\} 1/);
  assert.match(metrics, /tea_worker_node_state\{state="active"\} 1/);
  assert.match(metrics, /tea_worker_submissions_total\{call="nodes.register",outcome="finalized"\} 1/);
  const health = await fetch(good.started.metrics.replace('/metrics', '/health'));
  assert.equal(health.status, 200);
  assert.equal((await health.json()).state, 'active');

  // SIGINT stops the daemon and its managed swtpm.
  const exited = new Promise((r) => good.child.once('exit', (code) => r(code)));
  process.kill(good.child.pid, 'SIGINT');
  assert.equal(await exited, 0);
  const left = spawnSync('pgrep', ['-f', good.dataDir], { encoding: 'utf8' });
  assert.equal(left.stdout.trim(), '', 'no swtpm left behind');
  // Started again on the same data dir: the same node, already registered (no second
  // registration), and it answers again.
  const again = await daemon('good-again', good.args, good.dataDir);
  assert.equal(again.started.nodeId, good.started.nodeId);
  await new Promise((r) => setTimeout(r, 15_000));
  assert.ok(!again.lines.some((l) => l.registered || l.submitted === 'nodes.register'), JSON.stringify(again.lines));
  const listed = new Map((await api.call.nodesApi.nodes()).map(([id, st]) => [id.toHex(), st.toJSON()]));
  assert.equal(listed.size, 6, 'three genesis nodes and three workers');
  net = { good: again, bad, members, goodArgs: good.args, goodDir: good.dataDir };
});

test('malformed registrations are refused with their reason', async () => {
  const tcti = await startSwtpm('malformed');
  const id = tpm(['identity', '--tpm', tcti]);
  const offCurve = `${id.attestationKey.slice(0, -2)}${id.attestationKey.slice(-2) === '00' ? '01' : '00'}`;
  await assert.rejects(send(api, api.tx.nodes.register(id.ekPublic, '0x', offCurve,
    stringToHex('peer')), keys.Dave), /nodes\.BadAttestationKey/);
  await assert.rejects(send(api, api.tx.nodes.register('0x', '0x', id.attestationKey,
    stringToHex('peer')), keys.Dave), /nodes\.EmptyEndorsementKey/);
});

/** Every `attestation.submitAttestation` that `signer` got into blocks `from..=to`, oldest
 * first: { hash, block, node, purpose, anchor }. */
async function attestationsBy(signer, from, to) {
  const found = [];
  for (let n = from; n <= to; n++) {
    const hash = await api.rpc.chain.getBlockHash(n);
    const { block } = await api.rpc.chain.getBlock(hash);
    for (const ex of block.extrinsics) {
      if (!ex.isSigned || ex.signer.toString() !== signer.address) continue;
      if (ex.method.section !== 'attestation' || ex.method.method !== 'submitAttestation') continue;
      const [id, purpose, anchor] = ex.method.args;
      found.push({ hash: ex.hash.toHex(), block: n, node: id.toHex(), purpose: purpose.toString(), anchor: anchor.toNumber() });
    }
  }
  return found;
}

const finalizedNumber = async () => (await api.rpc.chain.getHeader(await api.rpc.chain.getFinalizedHead())).number.toNumber();

test('a worker killed with SIGKILL right after a submission, or crashed right after storing one, resumes it from its outbox: every heartbeat lands once and none is missing; tea-node restarted on its base path: the daemons reconnect by themselves and heartbeats go on', async () => {
  assert.ok(net, 'the first test left the network running');
  // Heartbeats every 8 blocks: one is owed 4 blocks (8 s) after the last. The genesis nodes
  // send none (their registrations have no TPM behind them); 100 missed periods are far away.
  const period = 8;
  await send(api, api.tx.sudo.sudo(api.tx.attestation.setHeartbeatRules({ period, maxMissed: 100 })), keys.Alice);
  const from = await finalizedNumber();
  const id = net.good.started.nodeId;

  // SIGKILL the moment a pool took a heartbeat, before it is final.
  const submitted = await lineOf(net.good, (l) => l.submitted === 'attestation.submitAttestation', net.good.lines.length, 120_000);
  process.kill(net.good.child.pid, 'SIGKILL');
  await new Promise((r) => (net.good.child.exitCode !== null || net.good.child.signalCode !== null
    ? r() : net.good.child.once('exit', r)));
  const restarted = await daemon('good-killed', net.goodArgs, net.goodDir);
  assert.equal(restarted.started.nodeId, id);
  // It resumes the stored heartbeat (nothing new before it is settled), then goes on.
  const resumed = await lineOf(restarted, (l) => l.attested, 1, 120_000);
  assert.equal(resumed.attested, 'Heartbeat');
  const next = await lineOf(restarted, (l) => l.attested === 'Heartbeat' && l.anchor > resumed.anchor, 1, 120_000);
  assert.ok(next.events.includes('Attestation.Attested'), JSON.stringify(next));

  // A crash after the outbox stored a heartbeat and before any pool saw it (the test-only
  // fault TEA_FAULT_CRASH_AFTER_STORE): started again, the worker sends exactly that
  // extrinsic, and nothing else for the node before it is settled.
  const stopped = exitOf(restarted);
  process.kill(restarted.child.pid, 'SIGINT');
  await stopped;
  process.env.TEA_FAULT_CRASH_AFTER_STORE = 'attestation.submitAttestation';
  const crashing = await daemon('good-crashing', net.goodArgs, net.goodDir);
  delete process.env.TEA_FAULT_CRASH_AFTER_STORE;
  const crashed = await exitOf(crashing, 180_000);
  assert.equal(crashed, 137);
  await sleep(200);
  const stored = crashing.lines.find((l) => l.stored);
  assert.ok(stored, JSON.stringify(crashing.lines));
  const recovered = await daemon('good-recovered', net.goodArgs, net.goodDir);
  const landed = await lineOf(recovered, (l) => l.attested, 1, 120_000);
  assert.equal(landed.attested, 'Heartbeat');

  // tea-node stops and starts again on its base path: the daemons reconnect by themselves.
  const beforeRestart = recovered.lines.length;
  await node.restart();
  await api.disconnect().catch(() => {});
  api = await connect(node);
  const after = await lineOf(recovered, (l) => l.attested === 'Heartbeat', beforeRestart, 180_000);
  assert.ok(after.events.includes('Attestation.Attested'), JSON.stringify(after));
  for (const d of [recovered, net.bad, ...Object.values(net.members)]) {
    let health;
    for (let i = 0; i < 60; i++) {
      health = await (await fetch(d.started.metrics.replace('/metrics', '/health'))).json();
      if (health.chain) break;
      await sleep(1000);
    }
    assert.equal(health.chain, true, `${d.started.nodeId} reconnected: ${JSON.stringify(health)}`);
  }

  // The chain's blocks: the heartbeat in flight at the SIGKILL landed exactly once, no
  // heartbeat came early (each at least half a period after the one before), and the node
  // missed no period.
  const to = await finalizedNumber();
  const sent = (await attestationsBy(keys.Dave, from, to)).filter((a) => a.node === id);
  assert.equal(sent.filter((a) => a.hash === submitted.hash).length, 1, JSON.stringify({ submitted, sent }));
  assert.equal(sent.filter((a) => a.hash === stored.hash).length, 1, JSON.stringify({ stored, sent }));
  const anchors = sent.map((a) => a.anchor);
  assert.equal(new Set(anchors).size, anchors.length, `an anchor twice: ${anchors}`);
  for (let i = 1; i < sent.length; i++) {
    assert.ok(sent[i].anchor - sent[i - 1].anchor >= period / 2, `a heartbeat came early: ${JSON.stringify(sent)}`);
  }
  assert.ok(sent.length >= 3, JSON.stringify(sent));
  const record = (await api.query.attestation.records(id)).unwrap();
  assert.equal(record.missed.toNumber(), 0, JSON.stringify(record.toJSON()));
  assert.ok('active' in (await state(id)));
  // Settled entries leave the outbox (one may be in flight at any moment: wait for none).
  let metrics = '';
  for (let i = 0; i < 60 && !/tea_worker_outbox_depth 0/.test(metrics); i++) {
    if (i > 0) await sleep(1000);
    metrics = await (await fetch(recovered.started.metrics)).text();
  }
  assert.match(metrics, /tea_worker_outbox_depth 0/);
  net.good = recovered;
});

test('a modified tea-worker binary started the normal way (through the launcher) withholds its quote as an honest worker, and a cheating one is caught by its first quote and quarantined', async () => {
  // The genuine launcher measures the binary it executes: a copy with bytes appended still
  // runs, and its SHA-256 is not the allowed build's. An honest worker would see that
  // governance never allowed it and not attest; a modified one does not care (the test-only
  // fault TEA_FAULT_NO_SELF_CHECK skips the worker's own checks).
  const modified = join(tempDir('tampered-bin'), 'tea-worker');
  copyFileSync(TEA_WORKER, modified);
  appendFileSync(modified, Buffer.from('tampered'));
  const { measurement } = tpm(['measurement', modified]);
  assert.notEqual(measurement, tpm(['measurement']).measurement);
  const args = ['--operator', '//Ferdie', '--tpm', 'swtpm', '--exec', modified];
  // Run as it is, it registers but never submits evidence against itself: its own check
  // finds that governance never allowed this build, and it withholds its quote.
  const honest = await daemon('tampered-honest', args);
  let metrics = '';
  for (let i = 0; i < 60 && !/outcome="withheld",purpose="admission"/.test(metrics); i++) {
    await sleep(1000);
    metrics = await (await fetch(honest.started.metrics)).text();
  }
  assert.match(metrics, /tea_worker_attestations_total\{outcome="withheld",purpose="admission"\} [1-9]/);
  assert.doesNotMatch(metrics, /outcome="sent"/);
  assert.match(honest.stderr(), /governance never allowed this build/);
  assert.deepEqual(await state(honest.started.nodeId), { candidate: { attested: false } });
  const stopped = exitOf(honest);
  process.kill(honest.child.pid, 'SIGINT');
  assert.equal(await stopped, 0);
  // The same binary skipping that check, as a cheating worker would, on the same TPM.
  process.env.TEA_FAULT_NO_SELF_CHECK = '1';
  const d = await daemon('tampered', args, honest.dataDir);
  delete process.env.TEA_FAULT_NO_SELF_CHECK;
  assert.equal(d.started.nodeId, honest.started.nodeId);
  const admission = await lineOf(d, (l) => l.attested === 'Admission');
  assert.ok(admission.events.includes('Attestation.QuoteRejected'), JSON.stringify(admission));
  assert.deepEqual((await state(d.started.nodeId)).quarantined.offence, { unknownRuntime: null });
  const exited = new Promise((r) => d.child.once('exit', (code) => r(code)));
  process.kill(d.child.pid, 'SIGINT');
  assert.equal(await exited, 0);
});

/** What the rollout tests share: the gateway and `rollOut(version)` of the actor `prover`. */
let rollouts;

test('a release rollout with maxFailure 0 completes because the attesting workers prove they loaded it', async () => {
  assert.ok(net?.good, 'the earlier tests left the network running');
  const gateway = await releases.startGateway(api);
  const workers = [net.good, net.bad];
  const ids = workers.map((w) => w.started.nodeId);
  // The genesis nodes have no TPM behind them and can prove nothing: their operators make
  // them exit, and the rollouts' node set is the two attesting workers.
  for (const name of ['Alice', 'Bob', 'Charlie']) {
    await send(api, api.tx.nodes.exit(net.members[name].started.nodeId), keys[name]);
  }
  await send(api, api.tx.actors.registerActor(stringToHex('prover')), keys.Bob);
  const text = (bytes) => Buffer.from(bytes.toU8a(true)).toString('utf8');
  /** Publishes `prover` v`version`, waits for its validation, puts it in the first worker's
   * store (the other fetches it from that peer) and approves it with `maxFailure` 0. */
  const rollOut = async (version) => {
    const code = actorWasm([['tea:log', 'write']], 40 + version, { callFirst: true });
    gateway.serve(code);
    const validated = nextEvent(api, 'actors', 'ReleaseValidated', (e) => text(e.data[0]) === 'prover' && e.data[1].toNumber() === version);
    await releases.publish(api, keys.Bob, 'prover', version, code, [['tea:log', ['write']]]);
    await validated;
    const file = join(tempDir('prover'), 'prover.wasm');
    writeFileSync(file, code);
    const packed = worker(['actor', 'pack', file, '--data-dir', net.good.dataDir]);
    assert.equal(packed.stdout.trim(), cidText(code), packed.stderr);
    // Two tiers of one node each, 15 blocks to prove (a heartbeat is owed every 4).
    const plan = { tiers: [{ share: 50, wait: 15 }, { share: 50, wait: 15 }], maxFailure: 0 };
    const events = await send(api, api.tx.sudo.sudo(api.tx.upgrades.approveRelease(stringToHex('prover'), version, plan)), keys.Alice);
    const started = events.find((e) => e.section === 'upgrades' && e.method === 'RolloutStarted');
    assert.ok(started, JSON.stringify(events.map((e) => `${e.section}.${e.method}`)));
    assert.equal(started.data.nodes.toNumber(), 2, 'only the attesting workers are assigned');
    return { code, rollout: started.data.rollout.toNumber() };
  };
  rollouts = { gateway, rollOut };

  // v1: each worker loads it when its tier opens (its event log records the CID before
  // the module is compiled) and proves it with its next heartbeat; the rollout completes
  // with no failure tolerated.
  const v1 = await rollOut(1);
  const proved = ids.map((id) => nextEvent(api, 'upgrades', 'NodeUpgraded',
    (e) => e.data.rollout.toNumber() === v1.rollout && e.data.node.toHex() === id, 240_000));
  const completed = nextEvent(api, 'upgrades', 'RolloutCompleted', (e) => e.data.rollout.toNumber() === v1.rollout, 300_000);
  await Promise.all(proved);
  for (const w of workers) {
    const loaded = await lineOf(w, (l) => l.loaded === cidText(v1.code), 1, 60_000);
    assert.deepEqual([loaded.actor, loaded.version], ['prover', 1]);
  }
  await completed;
  const done = (await api.query.upgrades.rollouts(v1.rollout)).unwrap();
  assert.equal(done.state.type, 'Completed');
  assert.deepEqual(done.tiers.map((t) => [t.upgraded.toNumber(), t.failed.toNumber()]), [[1, 0], [1, 0]]);
  assert.equal((await api.query.actors.releases(stringToHex('prover'), 1)).unwrap().status.type, 'Active');
});

/** The SCALE types of `tea_primitives::receipt` as the TEA runtime instantiates them. */
const RECEIPT_TYPES = {
  TeaTaskTarget: { _enum: { Actor: 'Bytes', Release: 'Bytes' } },
  TeaTaskRequest: { node: '[u8;32]', target: 'TeaTaskTarget', input: '[u8;32]', client: 'AccountId32', nonce: 'u64', validUntil: 'u32' },
  TeaReceipt: {
    node: '[u8;32]', actor: 'Bytes', version: 'u32', cid: 'Bytes', input: '[u8;32]', output: '[u8;32]',
    fuelUsed: 'u64', client: 'AccountId32', nonce: 'u64', block: 'u32', blockHash: 'H256', attestation: 'u32', key: '[u8;32]',
  },
  TeaSignedReceipt: { receipt: 'TeaReceipt', signature: '[u8;64]' },
};

/** Verifies a receipt (SCALE hex) the way a web client would, with @polkadot/api: the
 * ed25519 signature over `tea/receipt/v1 ‖ receipt`, then the chain's state at the receipt's
 * block. Returns null if it verifies, else the reason. */
async function verifyInJs(hex, input, output) {
  api.registry.register(RECEIPT_TYPES);
  const { receipt, signature } = api.createType('TeaSignedReceipt', hex);
  const message = u8aConcat(stringToU8a('tea/receipt/v1'), receipt.toU8a());
  if (!ed25519Verify(message, signature, receipt.key)) return 'BadSignature';
  if (u8aToHex(sha256AsU8a(input)) !== receipt.input.toHex()) return 'InputMismatch';
  if (u8aToHex(sha256AsU8a(output)) !== receipt.output.toHex()) return 'OutputMismatch';
  const hash = receipt.blockHash.toHex();
  const finalized = await api.rpc.chain.getFinalizedHead();
  const number = (await api.rpc.chain.getHeader(hash)).number.toNumber();
  if ((await api.rpc.chain.getBlockHash(number)).toHex() !== hash || number > (await api.rpc.chain.getHeader(finalized)).number.toNumber()
    || number !== receipt.block.toNumber()) return 'UnknownBlock';
  const at = await api.at(hash);
  const node = u8aToHex(receipt.node);
  const info = await at.query.nodes.nodes(node);
  if (info.isNone) return 'UnknownNode';
  const st = info.unwrap().state;
  if (!st.isActive && !st.isProbation) return 'NodeNotServing';
  const record = await at.query.attestation.records(node);
  if (record.isNone || record.unwrap().lastValid.unwrapOr(null)?.toNumber() !== receipt.attestation.toNumber()) return 'UnknownAttestation';
  const evidence = await at.query.attestation.evidence(node);
  if (evidence.isNone || evidence.unwrap().receiptKey.unwrapOr(null)?.toHex() !== receipt.key.toHex()) return 'KeyNotBound';
  // As hex: a Uint8Array would be taken as SCALE (length-prefixed) bytes.
  const release = await at.query.actors.releaseByCid(receipt.cid.toHex());
  if (release.isNone) return 'ReleaseNotAllowed (no release under the CID)';
  const [actor, version] = release.unwrap();
  if (actor.toHex() !== receipt.actor.toHex() || version.toNumber() !== receipt.version.toNumber()) return 'ReleaseNotAllowed';
  const status = (await at.query.actors.releases(actor, version)).unwrap().status;
  if (status.isActive) return null;
  if (!status.isRolling) return `ReleaseNotAllowed (${status.type})`;
  // Rolling (a completed rollout not yet finalized as Active, say): the node's tier is open.
  const live = await at.query.upgrades.liveByKey({ Actor: actor });
  if (live.isNone) return 'ReleaseNotAllowed (rolling, no live rollout)';
  const id = live.unwrap();
  const rollout = (await at.query.upgrades.rollouts(id)).unwrap();
  if (!rollout.target.isRelease || rollout.target.asRelease.version.toNumber() !== version.toNumber()) return 'ReleaseNotAllowed';
  const state = rollout.state;
  const open = state.isRunning ? state.asRunning.tier.toNumber() : state.isFrozen ? state.asFrozen.tier.toNumber()
    : (state.isGrace || state.isCompleted) ? Infinity : -1;
  const assignment = await at.query.upgrades.assignments(id, node);
  return assignment.isSome && assignment.unwrap().tier.toNumber() <= open ? null : 'ReleaseNotAllowed';
}

test('a client runs a task on an attested worker and gets a receipt that verifies with tea-worker and from JavaScript; tampered or replayed, it fails with its reason', async () => {
  assert.ok(rollouts, 'the release rollout test ran: prover v1 is active on both workers');
  const w = net.good;
  assert.ok(w.started.tasks, JSON.stringify(w.started));
  const dir = tempDir('receipt');
  const input = join(dir, 'input');
  writeFileSync(input, 'a task for prover');
  const out = join(dir, 'receipt.json');
  // The worker's key is in an accepted attestation since its first heartbeat after start.
  const key = w.started.receiptKey;
  for (let i = 0; i < 60; i++) {
    const e = await api.query.attestation.evidence(w.started.nodeId);
    if (e.isSome && e.unwrap().receiptKey.unwrapOr(null)?.toHex() === key) break;
    await sleep(1000);
  }
  const run = worker(['task', 'run', '--worker', w.started.tasks, '--actor', 'prover', '--input', input,
    '--key', '//Eve', '--chain', node.ws, '--out', out]);
  assert.equal(run.status, 0, run.stderr);
  const ran = JSON.parse(run.stdout);
  assert.equal(ran.output, u8aToHex(new Uint8Array(41)), 'prover v1 answers 41 zero bytes');
  assert.equal(ran.verified.actor, 'prover');
  assert.equal(ran.verified.version, 1);
  assert.equal(ran.verified.node, w.started.nodeId);
  assert.equal(ran.verified.key, key);
  assert.equal(ran.verified.client, keys.Eve.address);
  // tea-worker verify, and @polkadot/api, agree.
  const verified = worker(['verify', out, '--chain', node.ws]);
  assert.equal(verified.status, 0, verified.stderr);
  const answer = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(await verifyInJs(answer.receipt, Buffer.from('a task for prover'), new Uint8Array(41)), null);

  // Tampered: the output, the input, a byte of the receipt itself; each with its reason.
  const tampered = (name, change) => {
    const copy = { ...answer };
    change(copy);
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(copy));
    const res = worker(['verify', file, '--chain', node.ws]);
    assert.equal(res.status, 1, `${name}: ${res.stdout} ${res.stderr}`);
    return res.stderr;
  };
  assert.match(tampered('output', (c) => { c.output = u8aToHex(new Uint8Array(40)); }), /OutputMismatch/);
  assert.match(tampered('input', (c) => { c.input = stringToHex('another task'); }), /InputMismatch/);
  const flip = (hex, at) => hex.slice(0, at) + (hex[at] === '0' ? '1' : '0') + hex.slice(at + 1);
  // Every byte of the receipt is signed: the node id (first byte), the fuel, the nonce, the
  // key, the signature itself.
  for (const at of [2, 120, 200, answer.receipt.length - 130, answer.receipt.length - 1]) {
    assert.match(tampered(`byte-${at}`, (c) => { c.receipt = flip(c.receipt, at); }), /BadSignature|not a receipt/);
    const reason = await verifyInJs(flip(answer.receipt, at), Buffer.from('a task for prover'), new Uint8Array(41)).catch((e) => `${e}`);
    assert.notEqual(reason, null, `byte ${at}`);
  }

  // A replayed request is refused; a request for another node too.
  const request = await (await fetch(`${w.started.tasks}/node`)).json();
  assert.equal(request.nodeId, w.started.nodeId);
  assert.equal(request.receiptKey, key);
  api.registry.register(RECEIPT_TYPES);
  const body = (node, nonce) => {
    const bytes = Buffer.from('replayed');
    const req = api.createType('TeaTaskRequest', {
      node, target: { Actor: stringToHex('prover') }, input: sha256AsU8a(bytes), client: keys.Eve.address, nonce, validUntil: request.block + 10,
    });
    const signature = api.createType('MultiSignature', { Sr25519: keys.Eve.sign(u8aConcat(stringToU8a('tea/task/v1'), req.toU8a())) });
    return JSON.stringify({ request: req.toHex(), signature: signature.toHex(), input: u8aToHex(bytes) });
  };
  const post = async (b) => { const r = await fetch(`${w.started.tasks}/tasks`, { method: 'POST', body: b }); return [r.status, await r.json()]; };
  const once = body(w.started.nodeId, 7);
  const [first, done] = await post(once);
  assert.equal(first, 200, JSON.stringify(done));
  assert.equal(await verifyInJs(done.receipt, Buffer.from('replayed'), new Uint8Array(41)), null, 'a receipt for a request signed in JavaScript');
  assert.deepEqual((await post(once)).map((x, i) => (i ? x.error : x)), [409, 'replayed']);
  assert.deepEqual((await post(body(net.bad.started.nodeId, 8))).map((x, i) => (i ? x.error : x)), [421, 'wrong_node']);
  const forged = JSON.parse(body(w.started.nodeId, 9));
  forged.input = stringToHex('not the input signed');
  assert.deepEqual((await post(JSON.stringify(forged))).map((x, i) => (i ? x.error : x)), [400, 'input_mismatch']);
  const badSig = JSON.parse(body(w.started.nodeId, 10));
  badSig.signature = flip(badSig.signature, 20);
  assert.deepEqual((await post(JSON.stringify(badSig))).map((x, i) => (i ? x.error : x)), [401, 'bad_signature']);
  rollouts.receipt = { file: out, answer };
});

test('acknowledged receipts earn work points on chain (both signatures checked, once, never for the operator itself); after the era the operator claims a reward that reflects the work', async () => {
  assert.ok(rollouts?.receipt, 'the receipt test ran');
  const w = net.good;
  const nodeId = w.started.nodeId;
  const dir = tempDir('acks');
  const input = join(dir, 'input');
  writeFileSync(input, 'acknowledged work');
  /** Runs a task for `client`; returns the worker's answer (the receipt as SCALE hex). */
  const task = (client, name) => {
    const out = join(dir, `${name}.json`);
    const run = worker(['task', 'run', '--worker', w.started.tasks, '--actor', 'prover', '--input', input,
      '--key', `//${client}`, '--chain', node.ws, '--out', out]);
    assert.equal(run.status, 0, run.stderr);
    return JSON.parse(readFileSync(out, 'utf8'));
  };
  /** The client's acknowledgement: its signature over `tea/ack/v1 ‖ sha256(signed receipt)`. */
  const acked = (receiptHex, client) => ({
    signed: receiptHex,
    acknowledgement: { Sr25519: keys[client].sign(u8aConcat(stringToU8a('tea/ack/v1'), sha256AsU8a(hexToU8a(receiptHex)))) },
  });
  const submit = (batch, signer = keys.Dave) => send(api, api.tx.rewards.submitReceipts(nodeId, batch), signer);
  /** The batch's `ReceiptsCounted` event. */
  const countedIn = (events) => events.find((e) => e.section === 'rewards' && e.method === 'ReceiptsCounted');
  // A receipt counts only in the era it was made in: one whose batch misses the era's end
  // counts nothing (skipped), and the next task's receipt is tried (dev eras are 20 blocks).
  let answer;
  let counted;
  for (let attempt = 0; !counted; attempt++) {
    assert.ok(attempt < 4, 'a receipt counts within its era');
    answer = task('Eve', `eve-${attempt}`);
    const event = countedIn(await submit([acked(answer.receipt, 'Eve')]));
    if (event.data.receipts.toNumber() === 1) counted = event;
  }
  const era = counted.data.era.toNumber();
  const fuel = answer.fuelUsed;
  const params = (await api.query.rewards.params()).toJSON();
  const expected = Math.min(Math.floor(fuel / params.fuelPerPoint), params.clientCap);
  assert.ok(expected > 0, `prover burns ${fuel} fuel, more than a point's ${params.fuelPerPoint}`);
  assert.deepEqual([counted.data.receipts.toNumber(), counted.data.skipped.toNumber(), counted.data.points.toNumber()], [1, 0, expected]);
  const points = (await api.query.rewards.points(era, nodeId)).unwrap();
  assert.equal(points.work.toNumber(), expected);
  assert.equal(points.clients.toNumber(), 1);
  assert.equal(points.operator.toString(), keys.Dave.address);

  // The same receipt again counts nothing (counted already, or stale once the era ended): the
  // chain's state, not the node, refuses it, and the batch lands with it skipped. The
  // acknowledgement of another account, the operator's own task, a batch sent by someone else
  // than the operator: each fails its batch with its own error, nothing counted.
  const again = countedIn(await submit([acked(answer.receipt, 'Eve')]));
  assert.deepEqual([again.data.receipts.toNumber(), again.data.skipped.toNumber(), again.data.points.toNumber()], [0, 1, 0]);
  const next = task('Eve', 'eve-forged');
  await assert.rejects(submit([acked(next.receipt, 'Ferdie')]), /rewards\.BadAcknowledgement/);
  const own = task('Dave', 'dave');
  await assert.rejects(submit([acked(own.receipt, 'Dave')]), /rewards\.SelfDealing/);
  await assert.rejects(submit([acked(next.receipt, 'Eve')], keys.Ferdie), /rewards\.NotOperator/);
  // A byte of the node's signature changed (the client acknowledges what it was sent).
  const at = next.receipt.length - 1;
  const flipped = next.receipt.slice(0, at) + (next.receipt[at] === '0' ? '1' : '0');
  await assert.rejects(submit([acked(flipped, 'Eve')]), /rewards\.BadReceiptSignature/);
  const after = (await api.query.rewards.points(era, nodeId)).unwrap();
  if ((await api.query.rewards.currentEra()).toNumber() === era) assert.equal(after.work.toNumber(), expected);

  // The worker batches what its clients hand back: a web client's POST /v1/acks and the CLI
  // client's `task run --ack`. What the worker can check alone it refuses at once, each with
  // its reason.
  const base = w.started.tasks.replace(/\/v1\/?$/, '');
  /** A SCALE MultiSignature (Sr25519) of `client` acknowledging `receiptHex`. */
  const ackOf = (receiptHex, client) => u8aToHex(u8aConcat(new Uint8Array([1]),
    keys[client].sign(u8aConcat(stringToU8a('tea/ack/v1'), sha256AsU8a(hexToU8a(receiptHex))))));
  const postAck = async (receipt, acknowledgement) => {
    const r = await fetch(`${base}/v1/acks`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ receipt, acknowledgement }) });
    return { status: r.status, body: await r.json() };
  };
  for (const [receipt, client, status, kind] of [
    [next.receipt, 'Ferdie', 401, 'bad_acknowledgement'],
    [own.receipt, 'Dave', 403, 'self_dealing'],
    [flipped, 'Eve', 401, 'bad_receipt_signature'],
    ['0x00', 'Eve', 400, 'bad_request'],
  ]) {
    const got = await postAck(receipt, ackOf(receipt === '0x00' ? next.receipt : receipt, client));
    assert.deepEqual([got.status, got.body.error], [status, kind], JSON.stringify(got.body));
  }
  /** Waits until the finalized head is a few blocks into the current era (a receipt names a
   *  finalized block: earlier, it would be of the era before). */
  const intoTheEra = async () => {
    for (let i = 0; ; i++) {
      assert.ok(i < 60, 'the finalized head reaches the era');
      const start = (await api.query.rewards.eraStart()).toNumber();
      const head = (await api.rpc.chain.getHeader(await api.rpc.chain.getFinalizedHead())).number.toNumber();
      if (head >= start + 3) return;
      await sleep(1000);
    }
  };
  // A client with no account on chain (//Nobody holds nothing): its receipt could never count.
  // (A receipt of the era before is stale first: then a new one.)
  for (let attempt = 0; ; attempt++) {
    const nobody = task('Nobody', `nobody-${attempt}`);
    const stranger = await postAck(nobody.receipt, ackOf(nobody.receipt, 'Nobody'));
    if (stranger.status === 410 && attempt < 2) {
      await intoTheEra();
      continue;
    }
    assert.deepEqual([stranger.status, stranger.body.error], [403, 'unknown_client'], JSON.stringify(stranger.body));
    break;
  }
  /** The node's work points over eras `from`..the current one. */
  const workSince = async (from) => {
    let work = 0;
    for (let e = from; e <= (await api.query.rewards.currentEra()).toNumber(); e++) {
      const p = await api.query.rewards.points(e, nodeId);
      if (p.isSome) work += p.unwrap().work.toNumber();
    }
    return work;
  };
  let batches;
  const deadline = Date.now() + 3 * 40_000;
  for (let attempt = 0; !batches; attempt++) {
    // A receipt counts only in its era: one that missed it is refused or dropped as stale, and
    // tried anew, well into the next era (three dev eras at most).
    assert.ok(Date.now() < deadline, 'the batches land within an era');
    if (attempt > 0) {
      // The worker's lines of the attempt before are read first (the CLI runs synchronously).
      await sleep(1000);
      await intoTheEra();
    }
    const mark = w.lines.length;
    const from = (await api.query.rewards.currentEra()).toNumber();
    const before = await workSince(from);
    const web = task('Ferdie', `ferdie-${attempt}`);
    const queued = await postAck(web.receipt, ackOf(web.receipt, 'Ferdie'));
    if (queued.status === 410) continue;
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    assert.ok(queued.body.queued >= 1);
    const again = await postAck(web.receipt, ackOf(web.receipt, 'Ferdie'));
    // Queued still (or already counted and gone: then the batch drops it as counted).
    assert.ok(again.status === 409 || again.status === 202, JSON.stringify(again.body));
    const cli = worker(['task', 'run', '--worker', w.started.tasks, '--actor', 'prover', '--input', input,
      '--key', '//Eve', '--chain', node.ws, '--ack']);
    if (cli.status !== 0 && /stale/.test(cli.stderr)) continue;
    assert.equal(cli.status, 0, cli.stderr);
    assert.ok(JSON.parse(cli.stdout).acknowledged.queued >= 1, cli.stdout);
    // Both settle (in one batch or two) before anything else is signed as the operator.
    const seen = [];
    for (let at = mark, sent = 0; sent < 2;) {
      const line = await lineOf(w, (l) => l.receipts, at, 90_000);
      at = w.lines.indexOf(line) + 1;
      seen.push(line.receipts);
      if (line.receipts.dropped.stale) break;
      // Nothing the worker sends is refused (the chain's state skips, it does not refuse).
      assert.equal(line.receipts.refused, null, JSON.stringify(line.receipts));
      if (line.receipts.events.includes('Rewards.ReceiptsCounted')) sent += line.receipts.sent;
    }
    if (seen.some((b) => b.dropped.stale)) continue;
    // A batch the era's end overtook lands with its receipts skipped: tried anew.
    const rose = (await workSince(from)) > before;
    if (!rose && (await api.query.rewards.currentEra()).toNumber() > from) continue;
    assert.ok(rose, 'the batches earned work points');
    batches = seen;
  }
  assert.ok(batches.reduce((n, b) => n + b.sent, 0) >= 2, JSON.stringify(batches));

  // Claims open once the era after it ended; the reward is the era's, pro rata to points.
  for (let i = 0; (await api.query.rewards.currentEra()).toNumber() < era + 2; i++) {
    assert.ok(i < 90, 'two dev eras (80 s) pass');
    await sleep(2000);
  }
  const ended = (await api.query.rewards.eras(era)).unwrap();
  const mine = (await api.query.rewards.points(era, nodeId)).unwrap();
  const total = mine.uptime.toBigInt() + mine.duty.toBigInt() + mine.work.toBigInt();
  const share = ended.reward.toBigInt() * total / ended.points.toBigInt();
  assert.ok(share > 0n);
  const events = await send(api, api.tx.rewards.claim(era, nodeId), keys.Dave);
  const paid = events.find((e) => e.section === 'rewards' && e.method === 'Rewarded');
  assert.ok(paid, 'a Rewarded event');
  assert.equal(paid.data.operator.toString(), keys.Dave.address);
  assert.equal(paid.data.amount.toBigInt(), share);
  assert.ok((await api.query.rewards.points(era, nodeId)).unwrap().claimed.isTrue);
  await assert.rejects(send(api, api.tx.rewards.claim(era, nodeId), keys.Dave), /rewards\.AlreadyClaimed/);
});

test('a new worker build rolls out tier by tier: each worker fetches it by CID, relaunches into it through the launcher, and its next heartbeat proves it', async () => {
  assert.ok(rollouts, 'the release rollout test ran');
  const workers = [net.good, net.bad];
  const ids = workers.map((w) => w.started.nodeId);
  // A new build: this one with bytes appended (it runs the same; its SHA-256, the
  // measurement, differs). Its content ID is its measurement; only the worker "good" has it.
  const build = join(tempDir('build-2'), 'tea-worker');
  copyFileSync(TEA_WORKER, build);
  appendFileSync(build, Buffer.from('build 2'));
  const next = tpm(['measurement', build]);
  const current = tpm(['measurement']);
  const packed = worker(['actor', 'pack', build, '--data-dir', net.good.dataDir]);
  assert.equal(packed.stdout.trim(), next.cid, packed.stderr);
  const plan = { tiers: [{ share: 50, wait: 15 }, { share: 50, wait: 15 }], maxFailure: 0 };
  const events = await send(api, api.tx.sudo.sudo(api.tx.upgrades.rollOutMeasurement(next.measurement, current.measurement, plan)), keys.Alice);
  const started = events.find((e) => e.section === 'upgrades' && e.method === 'RolloutStarted');
  assert.ok(started, JSON.stringify(events.map((e) => `${e.section}.${e.method}`)));
  const rollout = started.data.rollout.toNumber();
  const tierOf = async (id) => (await api.query.upgrades.assignments(rollout, id)).unwrap().tier.toNumber();
  const tiers = await Promise.all(ids.map(tierOf));
  assert.deepEqual([...tiers].sort(), [0, 1]);
  const [first, second] = tiers[0] === 0 ? [0, 1] : [1, 0];
  const marks = workers.map((w) => w.lines.length);
  const upgraded = ids.map((id) => nextEvent(api, 'upgrades', 'NodeUpgraded',
    (e) => e.data.rollout.toNumber() === rollout && e.data.node.toHex() === id, 240_000));
  const completed = nextEvent(api, 'upgrades', 'RolloutCompleted', (e) => e.data.rollout.toNumber() === rollout, 300_000);

  // Tier by tier: the first tier's worker proves the new build before the second tier's
  // worker is allowed to move.
  await upgraded[first];
  assert.ok(!workers[second].lines.slice(marks[second]).some((l) => l.relaunching),
    'the second tier waits for its tier to open');
  await upgraded[second];
  await completed;
  for (const [i, w] of workers.entries()) {
    // It relaunched into the build (written under its data dir) and started again as the
    // same node, measured by the launcher of the build it ran before.
    const relaunch = await lineOf(w, (l) => l.relaunching === next.measurement, marks[i], 10_000);
    assert.equal(relaunch.path, join(w.dataDir, 'builds', next.measurement));
    const again = await lineOf(w, (l) => l.started, marks[i], 10_000);
    assert.equal(again.started.nodeId, ids[i]);
    w.started = again.started;
    assert.equal((await api.query.attestation.records(ids[i])).unwrap().measurement.unwrap().toHex(), next.measurement);
  }
  // The worker without the build fetched it from the one that had it, by its CID.
  const fetched = net.bad.lines.slice(marks[1]).find((l) => l.buildFetched);
  assert.equal(fetched?.buildFetched, next.measurement, JSON.stringify(net.bad.lines.slice(marks[1])));
  assert.equal(fetched.from, net.good.started.peerId);
  const done = (await api.query.upgrades.rollouts(rollout)).unwrap();
  assert.deepEqual(done.tiers.map((t) => [t.upgraded.toNumber(), t.failed.toNumber()]), [[1, 0], [1, 0]]);
  // The new build is allowed everywhere, the one it replaced no longer.
  assert.equal((await api.query.upgrades.measurements(next.measurement)).unwrap().type, 'Allowed');
  assert.ok((await api.query.upgrades.measurements(current.measurement)).isNone);
});

test('a worker that does not load the next release fails its tier and freezes the rollout', async () => {
  assert.ok(rollouts, 'the release rollout test ran');
  const { gateway, rollOut } = rollouts;
  try {
    // v2 while the worker "bad" is stopped: it never loads it, so it misses its tier's
    // deadline, is reported, and the rollout freezes (no failure tolerated).
    const stopped = exitOf(net.bad);
    process.kill(net.bad.child.pid, 'SIGINT');
    assert.equal(await stopped, 0);
    const v2 = await rollOut(2);
    const missed = nextEvent(api, 'upgrades', 'DeadlineMissed',
      (e) => e.data.rollout.toNumber() === v2.rollout && e.data.node.toHex() === net.bad.started.nodeId, 240_000);
    const frozen = nextEvent(api, 'upgrades', 'RolloutFrozen', (e) => e.data.rollout.toNumber() === v2.rollout, 240_000);
    await missed;
    const freeze = await frozen;
    assert.ok(freeze.data.failureRate.toNumber() > 0, freeze.data.toString());
    const status = (await api.query.upgrades.assignments(v2.rollout, net.bad.started.nodeId)).unwrap().status.type;
    assert.equal(status, 'MissedDeadline');
    assert.equal((await api.query.actors.releases(stringToHex('prover'), 2)).unwrap().status.type, 'Rolling');
  } finally {
    gateway.close();
  }
});
