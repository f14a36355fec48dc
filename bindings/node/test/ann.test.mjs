// Approximate search through the hnsw fragment: a named store with a few
// hundred vectors, the host started with splinterctl ($SPLCTL, else the
// repository's build/splinterctl, which finds build/fragments/hnsw.so beside
// it).  Exact while no instance runs (before insmod, after rmmod); flagged
// approximate, top-1 right and recall@10 >= 0.9 while one does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Store } from '../lib/index.mjs';
import { noVectors, uniqueName } from './helpers.mjs';

const N = 300;
const DIM = 16;
// set by the Makefile (then it must be there)
const ctlPath = process.env.SPLCTL || fileURLToPath(new URL('../../../build/splinterctl', import.meta.url));

const skip =
  noVectors ||
  (!process.env.SPLCTL && !existsSync(ctlPath) && 'SKIPPED: no build/splinterctl (make cli fragments)');

/** Deterministic vectors in [-0.5, 0.5): a failure reproduces. */
function lcg(seed) {
  let x = BigInt(seed);
  return () => {
    const v = new Float32Array(DIM);
    for (let i = 0; i < DIM; i++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
      v[i] = Number(x >> 40n) / 2 ** 24 - 0.5;
    }
    return v;
  };
}

const keys = (r) => r.hits.map((h) => h.key);
// the handle looks at the registry again at most every 100 ms (src/ann.c)
const pastRecheck = () => sleep(300);

test('ann: the hnsw fragment answers while it runs, the exact scan otherwise', { skip }, async (t) => {
  const name = uniqueName('ann');
  const s = Store.create(name, { slots: 1024, keyMax: 32, valMax: 16, vecDim: DIM });
  const ctl = (...args) => {
    const r = spawnSync(ctlPath, ['--store', name, ...args], { encoding: 'utf8' });
    if (r.error) throw r.error;
    return { ok: r.status === 0, out: r.stdout + r.stderr };
  };
  // the host stopped and the index region removed, also on failure; a host
  // that did not stop is killed by its pid
  t.after(() => {
    const ls = ctl('lsmod', '--json').out;
    ctl('rmmod', '--purge', 'hnsw');
    for (const m of ls.matchAll(/"host_pid":([0-9]+)/g)) {
      try {
        if (Number(m[1]) > 0) process.kill(Number(m[1]), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    s.close();
    Store.destroy(name);
  });

  const next = lcg(0x5eed);
  const vecs = [];
  for (let i = 0; i < N; i++) {
    vecs.push(next());
    s.vecSet(`k${i}`, vecs[i]);
  }
  const q = next();
  const exact = s.search({ vector: q, k: 10 });
  assert.equal(exact.approximate, false);

  // no instance yet: the exact scan answers, not flagged
  let r = s.search({ vector: q, k: 10, ann: true, ef: 64 });
  assert.equal(r.approximate, false, 'approximate with no hnsw running');
  assert.deepEqual(keys(r), keys(exact));

  const ins = ctl('insmod', 'hnsw');
  assert.ok(ins.ok && ins.out.startsWith('hnsw: running'), `insmod: ${ins.out}`);
  for (const end = Date.now() + 30000; ; await sleep(50)) {
    const st = ctl('frag', 'hnsw', 'stats');
    let j = null;
    try {
      j = st.ok ? JSON.parse(st.out) : null;
    } catch {
      // not JSON yet
    }
    if (j && j.state === 'ready' && j.nodes === N) break;
    assert.ok(Date.now() < end, `hnsw not ready after 30 s: ${st.out}`);
  }
  await pastRecheck();

  // stored vectors: flagged approximate, each its own top-1
  for (let i = 0; i < N; i += 15) {
    r = s.search({ vector: vecs[i], k: 1, ann: true, ef: 64 });
    assert.equal(r.approximate, true, `k${i}: not answered by the index`);
    assert.deepEqual(keys(r), [`k${i}`], `top-1 of k${i}`);
  }
  // the same through the thread pool
  r = await s.searchAsync({ vector: vecs[7], k: 1, ann: true });
  assert.equal(r.approximate, true);
  assert.deepEqual(keys(r), ['k7']);
  // recall@10 against the exact search over random queries
  let found = 0;
  let total = 0;
  for (let j = 0; j < 20; j++) {
    const v = next();
    const a = s.search({ vector: v, k: 10, ann: true, ef: 64 });
    const e = s.search({ vector: v, k: 10 });
    assert.ok(a.approximate && !e.approximate);
    const ek = new Set(keys(e));
    found += keys(a).filter((k) => ek.has(k)).length;
    total += ek.size;
  }
  assert.ok(found / total >= 0.9, `recall@10 ${found / total} (${found} of ${total})`);
  assert.throws(() => s.search({ vector: q, ann: true, ef: -1 }), TypeError);

  // rmmod: exact again
  const rm = ctl('rmmod', 'hnsw');
  assert.ok(rm.ok, `rmmod: ${rm.out}`);
  await pastRecheck();
  r = s.search({ vector: q, k: 10, ann: true });
  assert.equal(r.approximate, false, 'approximate after rmmod');
  assert.deepEqual(keys(r), keys(exact));
});
