// pallet-tea-nodes + pallet-tea-attestation end to end against `tea-node --dev`: workers, each
// with its own software TPM (swtpm) driven by `tea-worker` (tss-esapi), register as nodes;
// governance allows this tea-worker build's measurement and a TPM vendor CA (a swtpm local CA
// that certified the candidates' EKs); real quotes over the chain's challenge are verified in
// the runtime; the dev chain's trusted nodes (operated by Alice, Bob and Charlie) run
// `tea-worker committee serve`, which checks each candidate's EK certificate and binds its AK
// to its EK by credential activation over libp2p (`tea-worker node serve`), then votes: the
// certified candidate is admitted, one certified by an unknown CA is rejected and quarantined,
// and a tampered quote gets a third node quarantined at once.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';
import { stringToHex } from '@polkadot/util';
import { join } from 'node:path';
import {
  startNode, connect, stopAll, send, nextEvent, worker, startSwtpm, startWorker, localCa, tempDir,
} from './lib.mjs';

let node;
let api;
let keys;

before(async () => {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: 'sr25519' });
  keys = Object.fromEntries(['Alice', 'Bob', 'Charlie', 'Dave', 'Eve', 'Ferdie']
    .map((n) => [n, keyring.addFromUri(`//${n}`)]));
  node = await startNode('nodes', ['--dev']);
  api = await connect(node);
});

after(async () => {
  if (api) await api.disconnect().catch(() => {});
  await stopAll();
});

/** Runs `tea-worker tpm <args>` and parses its JSON. */
function tpm(args) {
  const res = worker(['tpm', ...args]);
  assert.equal(res.status, 0, `tea-worker tpm ${args[0]}: ${res.stderr}`);
  return JSON.parse(res.stdout);
}

/** A worker: its swtpm (manufactured with an EK certificate from `ca`, if given), its TPM and
 * libp2p identities (created on first use), registered by `operator`. */
async function registeredWorker(name, operator, ca) {
  const tcti = await startSwtpm(name, ca);
  const p2pKey = join(tempDir(`p2p-${name}`), 'p2p.key');
  const id = tpm(['identity', '--tpm', tcti, '--p2p-key', p2pKey]);
  assert.match(id.nodeId, /^0x[0-9a-f]{64}$/);
  assert.equal(id.ekCertificate === '0x', !ca, 'an EK certificate exactly when a CA made one');
  // The same TPM and key file give the same identity.
  assert.deepEqual(tpm(['identity', '--tpm', tcti, '--p2p-key', p2pKey]), id);
  const events = await send(api, api.tx.nodes.register(id.ekPublic, id.ekCertificate,
    id.attestationKey, id.peerIdBytes), operator);
  const registered = events.find((e) => e.section === 'nodes' && e.method === 'Registered');
  assert.equal(registered.data.node.toHex(), id.nodeId);
  return { tcti, id, operator, p2pKey };
}

/** `tea-worker node serve` for a registered worker (with `duty`, also keeping its
 * attestations on chain): resolves with its libp2p address; `w.server` is the process. */
async function serveChallenges(w, name, duty = false) {
  const chain = duty ? ['--chain', node.ws, '--operator', `//${name === 'bad' ? 'Eve' : name}`] : [];
  w.server = await startWorker(`${name}-serve`, ['node', 'serve', '--tpm', w.tcti,
    '--p2p-key', w.p2pKey, ...chain]);
  const { listen, nodeId } = await w.server.nextLine(0);
  assert.equal(nodeId, w.id.nodeId);
  assert.ok(listen.endsWith(`/p2p/${w.id.peerId}`), listen);
  return listen;
}

/** The worker quotes the chain's current challenge for `purpose`. */
async function quote(w, purpose) {
  const [anchor, nonce] = await api.call.attestationApi.challenge(w.id.nodeId, purpose);
  const q = tpm(['quote', '--tpm', w.tcti, '--nonce', nonce.toHex()]);
  return { anchor: anchor.toNumber(), ...q };
}

function submit(w, purpose, q) {
  return send(api, api.tx.attestation.submitAttestation(w.id.nodeId, purpose, q.anchor, q.attest,
    q.signature, q.pcrs), w.operator);
}

const state = async (id) => (await api.query.nodes.nodes(id)).unwrap().state.toJSON();

test('worker committees admit a certified node, reject an uncertified one, and clear a quarantined node that appeals by itself', async () => {
  const vendor = localCa('vendor');
  const rogue = localCa('rogue');
  const good = await registeredWorker('good', keys.Dave, vendor);
  const bad = await registeredWorker('bad', keys.Eve, vendor);
  const uncertified = await registeredWorker('uncertified', keys.Ferdie, rogue);
  assert.deepEqual(await state(good.id.nodeId), { candidate: { attested: false } });

  // Governance allows the measurement of this tea-worker build and the vendor's CA key.
  const measurement = tpm(['measurement']).measurement;
  assert.equal(good.id.measurement, measurement, 'the TPM measured this tea-worker build');
  assert.equal((await api.query.upgrades.measurements(measurement)).isNone, true);
  await send(api, api.tx.sudo.sudo(api.tx.upgrades.allowMeasurement(measurement)), keys.Alice);
  const res = worker(['committee', 'ca-key', vendor.issuerCert]);
  assert.equal(res.status, 0, res.stderr);
  const { caKey, keyHash } = JSON.parse(res.stdout);
  await send(api, api.tx.sudo.sudo(api.tx.upgrades.addCaKey(caKey)), keys.Alice);
  assert.equal((await api.query.upgrades.caKeys(keyHash)).unwrap().toHex(), caKey);

  // The candidates answer credential challenges; the trusted nodes' operators serve on
  // committees, each member with a TPM of its own.
  const peers = [await serveChallenges(good, 'good'), await serveChallenges(uncertified, 'uncertified'),
    await serveChallenges(bad, 'bad', true)];
  const trusted = (await api.query.nodes.nodes.entries())
    .map(([k, v]) => [k.args[0].toHex(), v.unwrap()])
    .filter(([, info]) => info.state.isActive);
  assert.equal(trusted.length, 3);
  const committee = new Map();
  for (const [member, info] of trusted) {
    const name = Object.keys(keys).find((n) => keys[n].address === info.operator.toString());
    const memberTpm = await startSwtpm(`member-${name}`);
    // The genesis nodes' registered peer ids are the well-known dev keys: a candidate that
    // follows the chain answers only its reviewers' registered peer ids.
    committee.set(member, await startWorker(`committee-${name}`, ['committee', 'serve',
      '--chain', node.ws, '--node-id', member, '--operator', `//${name}`, '--tpm', memberTpm,
      '--p2p-key', `dev:${name}`, ...peers.flatMap((p) => ['--peer', p]), '--votes', '3']));
  }

  // Real quotes over the chain's challenge, verified in the runtime; the committees are drawn
  // at the start of the next block.
  const admit = async (w) => {
    const q = await quote(w, 'Admission');
    assert.equal(q.measurement, measurement);
    const drawn = nextEvent(api, 'attestation', 'ReviewOpened',
      (e) => e.data.node.toHex() === w.id.nodeId);
    const events = await submit(w, 'Admission', q);
    const attested = events.find((e) => e.section === 'attestation' && e.method === 'Attested');
    assert.ok(attested, `no Attested event: ${events.map((e) => `${e.section}.${e.method}`)}`);
    assert.equal(attested.data.measurement.toHex(), measurement);
    assert.ok(events.some((e) => e.section === 'attestation' && e.method === 'ReviewRequested'));
    const members = (await drawn).data.members.map((m) => m.toHex());
    assert.deepEqual([...members].sort(), [...committee.keys()].sort(), 'the three trusted nodes');
    return q;
  };
  const closedGood = nextEvent(api, 'attestation', 'ReviewClosed',
    (e) => e.data.node.toHex() === good.id.nodeId, 150_000);
  const closedUncertified = nextEvent(api, 'attestation', 'ReviewClosed',
    (e) => e.data.node.toHex() === uncertified.id.nodeId, 150_000);
  const q = await admit(good);
  await admit(uncertified);

  // The same quote again is a replay; it is refused without a trace.
  await assert.rejects(submit(good, 'Admission', q), /attestation\.(Replayed|UnderReview)/);

  // A tampered quote: the PCR value no longer matches the signed digest.
  const t = await quote(bad, 'Admission');
  t.pcrs[0][1] = `0x${'ab'.repeat(32)}`;
  const rejected = await submit(bad, 'Admission', t);
  const why = rejected.find((e) => e.section === 'attestation' && e.method === 'QuoteRejected');
  assert.deepEqual(why.data.offence.toJSON(), { failedQuote: 'PcrDigestMismatch' });
  const quarantined = await state(bad.id.nodeId);
  assert.deepEqual(quarantined.quarantined.offence, { failedQuote: 'PcrDigestMismatch' });
  assert.ok(rejected.some((e) => e.section === 'nodes' && e.method === 'Quarantined'));

  // The committee admits the certified node unanimously...
  const closed = await closedGood;
  assert.equal(closed.data.verdict.toJSON(), true);
  assert.deepEqual(closed.data.noted.toJSON(), []);
  assert.deepEqual(await state(good.id.nodeId), { candidate: { attested: true } });
  // ...and rejects the one whose EK certificate no allowlisted CA signed.
  const refused = await closedUncertified;
  assert.equal(refused.data.verdict.toJSON(), false);
  assert.deepEqual(refused.data.noted.toJSON(), []);
  assert.deepEqual((await state(uncertified.id.nodeId)).quarantined.offence, { committeeRejected: null });

  // The quarantined node's worker appeals by itself with a fresh, valid quote; never admitted,
  // it needs a committee, which clears it: back to the admission queue, attested. Its worker
  // follows the chain, so it answered only the appeal committee's registered peer ids.
  const appeal = await bad.server.nextLine(1, 60_000);
  assert.equal(appeal.attested, 'Appeal');
  assert.ok(appeal.events.includes('Attestation.ReviewRequested'), JSON.stringify(appeal));
  const cleared = await nextEvent(api, 'attestation', 'ReviewClosed',
    (e) => e.data.node.toHex() === bad.id.nodeId, 150_000);
  assert.equal(cleared.data.verdict.toJSON(), true);
  assert.deepEqual(await state(bad.id.nodeId), { candidate: { attested: true } });

  // Each member says why it voted as it did.
  for (const [member, w] of committee) {
    const votes = [await w.nextLine(0), await w.nextLine(1), await w.nextLine(2)];
    const byNode = Object.fromEntries(votes.map((v) => [v.node, v]));
    assert.equal(byNode[good.id.nodeId].approve, true, `${member}: ${JSON.stringify(votes)}`);
    assert.equal(byNode[bad.id.nodeId].approve, true);
    assert.equal(byNode[uncertified.id.nodeId].approve, false);
    assert.match(byNode[uncertified.id.nodeId].reason, /no allowlisted TPM vendor CA key/);
  }

  // The runtime API a worker reads the registry through agrees with storage.
  const listed = new Map((await api.call.nodesApi.nodes()).map(([id, st]) => [id.toHex(), st.toJSON()]));
  assert.equal(listed.size, 6, 'three genesis nodes and three workers');
  assert.deepEqual(listed.get(good.id.nodeId), { candidate: { attested: true } });
  assert.deepEqual(listed.get(bad.id.nodeId), { candidate: { attested: true } });
  assert.ok(listed.get(uncertified.id.nodeId).quarantined);
  const info = (await api.call.nodesApi.node(good.id.nodeId)).unwrap();
  assert.equal(info.operator.toString(), keys.Dave.address);
  assert.equal(info.attestationKey.toHex(), good.id.attestationKey);
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
