// A minimal Wasm encoder for test actors (TEA host ABI v1) and the CIDs of byte strings, so the
// end-to-end tests build their actors from source instead of committing binaries.

import { sha256AsU8a, base32Encode } from '@polkadot/util-crypto';

function leb(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

const str = (s) => { const b = [...Buffer.from(s, 'utf8')]; return [...leb(b.length), ...b]; };
const vec = (items) => [...leb(items.length), ...items.flat()];
const section = (id, body) => [id, ...leb(body.length), ...body];

const I32 = 0x7f;
const I64 = 0x7e;
const func = (params, results) => [0x60, ...vec(params.map((p) => [p])), ...vec(results.map((r) => [r]))];

/**
 * An actor module exporting `memory`, `tea_alloc` and `tea_run`, importing each
 * `[provider, operation]` of `imports` with the provider-call signature `(i32, i32) -> i64`.
 * `salt` changes the bytes (and so the CID) without changing the interface; `tea_run` returns
 * `salt` zero bytes. With `callFirst`, `tea_run` first calls the first import with an empty
 * request (and ignores what it answers).
 */
export function actorWasm(imports, salt = 0, { callFirst = false } = {}) {
  const types = section(1, vec([func([I32, I32], [I64]), func([I32], [I32])]));
  const importSec = section(2, vec(imports.map(([m, f]) => [...str(m), ...str(f), 0x00, 0x00])));
  const funcs = section(3, vec([[1], [0]]));
  const memory = section(5, vec([[0x00, 0x01]]));
  const n = imports.length;
  const exports = section(7, vec([
    [...str('memory'), 0x02, 0x00],
    [...str('tea_alloc'), 0x00, ...leb(n)],
    [...str('tea_run'), 0x00, ...leb(n + 1)],
  ]));
  const alloc = [0x00, 0x41, ...leb(1024), 0x0b];
  const call = callFirst && imports.length > 0 ? [0x41, 0x00, 0x41, 0x00, 0x10, 0x00, 0x1a] : [];
  const run = [0x00, ...call, 0x42, salt & 0x3f, 0x0b];
  const code = section(10, vec([[...leb(alloc.length), ...alloc], [...leb(run.length), ...run]]));
  return Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...types, ...importSec, ...funcs, ...memory, ...exports, ...code]);
}

/** Binary CIDv1, raw codec, sha2-256. */
export function cidBytes(bytes) {
  return Uint8Array.from([0x01, 0x55, 0x12, 0x20, ...sha256AsU8a(bytes)]);
}

/** The multibase text form (`b` + base32 lower, no padding), as the gateway path uses. */
export function cidText(bytes) {
  return base32Encode(cidBytes(bytes), true);
}
