// Runtime upgrades end to end against `tea-node --dev`, the way DAO members do it from
// polkadot.js apps: a council motion authorizes the hash of a runtime with a higher
// spec_version (`upgrades.authorizeRuntimeUpgrade`), anyone submits the code
// (`system.applyAuthorizedUpgrade`, unsigned and free), and the chain keeps producing and
// finalizing blocks on the new version. The new runtime is this checkout's runtime built with
// the `spec-bump` feature by `runtime/spec-bump` (scripts/test builds it; cargo caches it).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Keyring } from '@polkadot/keyring';
import { blake2AsHex, cryptoWaitReady } from '@polkadot/util-crypto';
import { u8aToHex } from '@polkadot/util';
import { BIN, startNode, connect, stopAll, send, sendUnsigned, motion, waitFinalized } from './lib.mjs';

const BUMPED = join(BIN, 'wbuild', 'tea-runtime', 'tea_runtime_spec_bump.compact.compressed.wasm');

let node;
let api;
let alice;
let bob;
let charlie;

before(async () => {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: 'sr25519' });
  [alice, bob, charlie] = ['//Alice', '//Bob', '//Charlie'].map((uri) => keyring.addFromUri(uri));
  node = await startNode('upgrades', ['--dev']);
  api = await connect(node);
});

after(async () => {
  if (api) await api.disconnect().catch(() => {});
  await stopAll();
});

test('a council motion upgrades the runtime and the chain keeps finalizing on the new version', async () => {
  const code = readFileSync(BUMPED);
  const codeHash = blake2AsHex(code, 256);
  assert.equal(api.runtimeVersion.specVersion.toNumber(), 100);

  // Nothing is authorized yet: the pool refuses the code.
  await assert.rejects(sendUnsigned(api, api.tx.system.applyAuthorizedUpgrade(u8aToHex(code))));
  // A signed account cannot authorize; it takes two thirds of the council.
  await assert.rejects(send(api, api.tx.upgrades.authorizeRuntimeUpgrade(codeHash), bob), /BadOrigin/);

  const closed = await motion(api, api.tx.upgrades.authorizeRuntimeUpgrade(codeHash), alice, [alice, bob], charlie);
  const authorized = closed.find((e) => e.section === 'upgrades' && e.method === 'RuntimeUpgradeAuthorized');
  assert.ok(authorized, 'upgrades.RuntimeUpgradeAuthorized');
  assert.equal(authorized.data[0].toHex(), codeHash);
  const system = closed.find((e) => e.section === 'system' && e.method === 'UpgradeAuthorized');
  assert.ok(system && system.data[1].isTrue, 'authorized with the version check');

  // Anyone submits the code, unsigned and free.
  const { block } = await sendUnsigned(api, api.tx.system.applyAuthorizedUpgrade(u8aToHex(code)));
  // That block's state holds the new code, its parent's the old one. (Its events are not read
  // back: polkadot.js decodes the upgrade block's events with the registry it is switching.)
  const header = await api.rpc.chain.getHeader(block);
  const upgradedAt = header.number.toNumber();
  const before = await api.rpc.state.getRuntimeVersion(header.parentHash);
  const at = await api.rpc.state.getRuntimeVersion(block);
  assert.deepEqual([before.specVersion.toNumber(), at.specVersion.toNumber()], [100, 101]);
  const stored = await api.rpc.state.getStorage(':code', block);
  assert.equal(blake2AsHex(stored.unwrap ? stored.unwrap() : stored, 256), codeHash, 'the authorized code is stored');

  // Blocks after the upgrade run the new runtime and are finalized.
  const finalized = await waitFinalized(api, upgradedAt + 3);
  const hash = await api.rpc.chain.getBlockHash(finalized);
  const version = await api.rpc.state.getRuntimeVersion(hash);
  assert.equal(version.specName.toString(), 'tea');
  assert.equal(version.specVersion.toNumber(), 101);
  // The authorization was used up: the same code cannot be applied twice.
  await assert.rejects(sendUnsigned(api, api.tx.system.applyAuthorizedUpgrade(u8aToHex(code))));
  // The new runtime takes transactions: the council governs on.
  const after = await motion(api, api.tx.upgrades.allowMeasurement(u8aToHex(new Uint8Array(32).fill(7))), alice, [alice, bob], charlie);
  assert.ok(after.some((e) => e.section === 'upgrades' && e.method === 'MeasurementAllowed'));
});
