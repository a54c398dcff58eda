// `tea-node --dev` end to end: blocks are produced and finalized; polkadot.js (the DAO members'
// tool) reads metadata and transfers balance; tea-worker reads the chain; bad input fails clearly.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';
import { startNode, connect, waitFinalized, stopAll, worker, teaNode, freePort, tempDir } from './lib.mjs';

let node;
let api;

before(async () => {
  await cryptoWaitReady();
  node = await startNode('dev', ['--dev']);
  api = await connect(node);
});

after(async () => {
  if (api) await api.disconnect().catch(() => {});
  await stopAll();
});

test('blocks are produced and finalized', async () => {
  const finalized = await waitFinalized(api, 2);
  assert.ok(finalized >= 2);
  const best = (await api.rpc.chain.getHeader()).number.toNumber();
  assert.ok(best >= finalized, `best #${best} behind finalized #${finalized}`);
  // The dev genesis chose 2-second blocks: polkadot.js reads it from the runtime's constants,
  // and consecutive blocks fall in later 2-second slots.
  assert.equal(api.consts.aura.slotDuration.toNumber(), 2000);
  assert.equal(api.consts.timestamp.minimumPeriod.toNumber(), 1000);
  assert.equal((await api.query.blockTime.slotDuration()).unwrap().toNumber(), 2000);
  const at = async (n) => (await api.query.timestamp.now.at(await api.rpc.chain.getBlockHash(n))).toNumber();
  const [t1, t2] = [await at(finalized - 1), await at(finalized)];
  assert.ok(Math.floor(t2 / 2000) > Math.floor(t1 / 2000) && t2 - t1 >= 1000, `blocks ${t2 - t1} ms apart`);
  // Quotes are judged by the development attestation policy: PCRs 0-7 at their dev-boot
  // values, the event log in PCR 13 (what DAO members see in polkadot.js).
  const policy = (await api.query.attestation.policy()).unwrap().pcrs.map(([pcr, rule]) => [pcr.toNumber(), rule.type]);
  assert.deepEqual(policy, [0, 1, 2, 3, 4, 5, 6, 7].map((p) => [p, 'Fixed']).concat([[13, 'Log']]));
});

test('metadata describes the TEA runtime', async () => {
  assert.equal(api.runtimeVersion.specName.toString(), 'tea');
  assert.equal(api.runtimeVersion.specVersion.toNumber(), 100);
  const meta = await api.rpc.state.getMetadata();
  const pallets = meta.asLatest.pallets.map((p) => p.name.toString());
  for (const p of ['System', 'Timestamp', 'Aura', 'Grandpa', 'Balances', 'TransactionPayment', 'Utility', 'Sudo', 'Council', 'Elections', 'Actors', 'Upgrades']) {
    assert.ok(pallets.includes(p), `pallet ${p} missing from metadata: ${pallets}`);
  }
  assert.equal(api.registry.chainSS58, 42);
  assert.deepEqual(api.registry.chainTokens, ['TEA']);
  assert.deepEqual(api.registry.chainDecimals, [12]);
  // The dev chain has a sudo key; it is Alice.
  const keyring = new Keyring({ type: 'sr25519' });
  const alice = keyring.addFromUri('//Alice');
  assert.equal((await api.query.sudo.key()).unwrap().toString(), alice.address);
});

test('Alice transfers to Bob: Transfer event and exact new balances', async () => {
  const keyring = new Keyring({ type: 'sr25519' });
  const alice = keyring.addFromUri('//Alice');
  const bob = keyring.addFromUri('//Bob');
  const amount = 1_234_567_890_123n;

  const { blockHash, events } = await new Promise((resolve, reject) => {
    let unsub;
    api.tx.balances.transferKeepAlive(bob.address, amount)
      .signAndSend(alice, (result) => {
        if (result.dispatchError) {
          reject(new Error(`dispatch error: ${result.dispatchError.toString()}`));
        } else if (result.status.isInBlock) {
          resolve({ blockHash: result.status.asInBlock, events: result.events });
          unsub?.();
        } else if (result.isError) {
          reject(new Error(`transaction failed: ${result.status.toString()}`));
        }
      })
      .then((u) => { unsub = u; }, reject);
  });

  const ev = (section, method) => events.map((e) => e.event).find((e) => e.section === section && e.method === method);
  assert.ok(ev('system', 'ExtrinsicSuccess'), 'ExtrinsicSuccess missing');
  const transfer = ev('balances', 'Transfer');
  assert.ok(transfer, 'Transfer event missing');
  assert.equal(transfer.data.from.toString(), alice.address);
  assert.equal(transfer.data.to.toString(), bob.address);
  assert.equal(transfer.data.amount.toBigInt(), amount);
  const feePaid = ev('transactionPayment', 'TransactionFeePaid');
  assert.ok(feePaid, 'TransactionFeePaid missing');
  const fee = feePaid.data.actualFee.toBigInt();
  assert.ok(fee > 0n);

  const header = await api.rpc.chain.getHeader(blockHash);
  const before = await api.at(header.parentHash);
  const after = await api.at(blockHash);
  const free = async (at, who) => (await at.query.system.account(who)).data.free.toBigInt();
  assert.equal(await free(after, bob.address) - await free(before, bob.address), amount);
  assert.equal(await free(before, alice.address) - await free(after, alice.address), amount + fee);
});

test('offchain local storage is writable over RPC (how operators set the release gateway)', async () => {
  const key = '0x' + Buffer.from('tea::test').toString('hex');
  const value = '0x' + Buffer.from('http://127.0.0.1:1/ipfs').toString('hex');
  await api.rpc.offchain.localStorageSet('PERSISTENT', key, value);
  const got = await api.rpc.offchain.localStorageGet('PERSISTENT', key);
  assert.equal(got.unwrap().toHex(), value);
});

test('Prometheus metrics are served', async () => {
  const res = await fetch(`http://127.0.0.1:${node.promPort}/metrics`);
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.match(body, /substrate_block_height\{[^}]*status="finalized"/);
});

test('tea-worker status reads the same chain', async () => {
  const finalized = await waitFinalized(api, 2);
  const res = worker(['status', '--chain', node.ws, '--json']);
  assert.equal(res.status, 0, res.stderr);
  const s = JSON.parse(res.stdout);
  assert.equal(s.chain, 'TEA Development');
  assert.equal(s.specName, 'tea');
  assert.equal(s.specVersion, api.runtimeVersion.specVersion.toNumber());
  assert.equal(s.transactionVersion, api.runtimeVersion.transactionVersion.toNumber());
  assert.equal(s.genesisHash, api.genesisHash.toHex());
  assert.ok(s.finalizedNumber >= finalized, `${s.finalizedNumber} < ${finalized}`);
  const hash = await api.rpc.chain.getBlockHash(s.finalizedNumber);
  assert.equal(s.finalizedHash, hash.toHex());

  const text = worker(['status', '--chain', node.ws]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /runtime:\s+tea spec_version 100/);
});

test('tea-worker status fails clearly against a closed port', async () => {
  const port = await freePort();
  const res = worker(['status', '--chain', `ws://127.0.0.1:${port}`, '--timeout', '5']);
  assert.notEqual(res.status, 0);
  const lines = res.stderr.trim().split('\n');
  assert.equal(lines.length, 1, res.stderr);
  assert.match(lines[0], /^error: cannot reach a tea-node at ws:\/\/127\.0\.0\.1:\d+ .*refused.*is the node running\?/i);
  assert.doesNotMatch(res.stderr, /panicked|RUST_BACKTRACE/);
});

test('tea-worker status rejects a malformed endpoint', () => {
  const res = worker(['status', '--chain', 'localhost:9944']);
  assert.notEqual(res.status, 0);
  assert.match(res.stderr.trim(), /^error: 'localhost:9944' is not a node RPC endpoint: expected a URL like ws:\/\/127\.0\.0\.1:9944$/);
});

test('tea-node refuses an unknown --chain with one clear line', () => {
  const res = teaNode(['--chain', 'no-such-chain', '--base-path', tempDir('badchain')]);
  assert.notEqual(res.status, 0);
  assert.match(res.stderr, /error: unknown chain 'no-such-chain': use `--chain dev`, `--chain local` or the path of a chain spec JSON file/);
  assert.doesNotMatch(res.stderr, /panicked|RUST_BACKTRACE/);
});
