// pallet-tea-nodes + pallet-tea-attestation end to end against `tea-node --dev`: two workers,
// each with its own software TPM (swtpm) driven by `tea-worker tpm` (tss-esapi), register as
// nodes; governance allows this tea-worker build's measurement; a real quote over the chain's
// challenge is verified in the runtime and the dev chain's trusted nodes (operated by Alice, Bob
// and Charlie) vote the candidate in; a tampered quote gets the other node quarantined.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';
import { stringToHex } from '@polkadot/util';
import { startNode, connect, stopAll, send, nextEvent, worker, startSwtpm } from './lib.mjs';

let node;
let api;
let keys;

before(async () => {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: 'sr25519' });
  keys = Object.fromEntries(['Alice', 'Bob', 'Charlie', 'Dave', 'Eve']
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

/** A worker: its swtpm, its TPM identity (provisioned on first use), registered by `operator`. */
async function registeredWorker(name, operator) {
  const tcti = await startSwtpm(name);
  const id = tpm(['identity', '--tpm', tcti]);
  assert.match(id.nodeId, /^0x[0-9a-f]{64}$/);
  // The same TPM gives the same identity.
  assert.deepEqual(tpm(['identity', '--tpm', tcti]), id);
  const events = await send(api, api.tx.nodes.register(id.ekPublic, '0x', id.attestationKey,
    stringToHex(`peer-${name}`)), operator);
  const registered = events.find((e) => e.section === 'nodes' && e.method === 'Registered');
  assert.equal(registered.data.node.toHex(), id.nodeId);
  return { tcti, id, operator };
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

test('a real swtpm quote admits a node; a tampered one quarantines another', async () => {
  const good = await registeredWorker('good', keys.Dave);
  const bad = await registeredWorker('bad', keys.Eve);
  assert.deepEqual(await state(good.id.nodeId), { candidate: { attested: false } });

  // Governance allows the measurement of this tea-worker build.
  const measurement = tpm(['measurement']).measurement;
  assert.equal(good.id.measurement, measurement, 'the TPM measured this tea-worker build');
  assert.equal((await api.query.upgrades.measurements(measurement)).isNone, true);
  await send(api, api.tx.sudo.sudo(api.tx.upgrades.allowMeasurement(measurement)), keys.Alice);

  // A real quote over the chain's challenge, verified in the runtime; the committee is drawn
  // at the start of the next block.
  const q = await quote(good, 'Admission');
  assert.equal(q.measurement, measurement);
  const drawn = nextEvent(api, 'attestation', 'ReviewOpened',
    (e) => e.data.node.toHex() === good.id.nodeId);
  const events = await submit(good, 'Admission', q);
  const attested = events.find((e) => e.section === 'attestation' && e.method === 'Attested');
  assert.ok(attested, `no Attested event: ${events.map((e) => `${e.section}.${e.method}`)}`);
  assert.equal(attested.data.measurement.toHex(), measurement);
  assert.ok(events.some((e) => e.section === 'attestation' && e.method === 'ReviewRequested'));
  const members = (await drawn).data.members.map((m) => m.toHex());
  assert.equal(members.length, 3, 'the three dev trusted nodes');

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

  // The committee (the dev nodes' operators) votes the good node in.
  for (const member of members) {
    const operator = (await api.query.nodes.nodes(member)).unwrap().operator.toString();
    const signer = Object.values(keys).find((k) => k.address === operator);
    await send(api, api.tx.attestation.vote(member, good.id.nodeId, true), signer);
  }
  const closed = await nextEvent(api, 'attestation', 'ReviewClosed',
    (e) => e.data.node.toHex() === good.id.nodeId, 150_000);
  assert.equal(closed.data.verdict.toJSON(), true);
  assert.deepEqual(closed.data.noted.toJSON(), []);
  assert.deepEqual(await state(good.id.nodeId), { candidate: { attested: true } });

  // The runtime API a worker reads the registry through agrees with storage.
  const listed = new Map((await api.call.nodesApi.nodes()).map(([id, st]) => [id.toHex(), st.toJSON()]));
  assert.equal(listed.size, 5, 'three genesis nodes and two workers');
  assert.deepEqual(listed.get(good.id.nodeId), { candidate: { attested: true } });
  assert.ok(listed.get(bad.id.nodeId).quarantined);
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
