import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Store, simd, simdForce } from '../lib/index.mjs';
import { memStore, noVectors } from './helpers.mjs';

const vstore = (opts) => memStore({ vecDim: 4, ...opts });

test('vecSet, vecGet, vecClear', { skip: noVectors }, () => {
  const s = vstore();
  assert.equal(s.vecGet('v'), undefined);
  s.vecSet('v', [1, 2, 3, 4]);
  const got = s.vecGet('v');
  assert.ok(got instanceof Float32Array);
  assert.deepEqual([...got], [1, 2, 3, 4]);
  assert.equal(s.get('v').length, 0, 'the key was created with an empty value');
  s.set('v', 'value kept');
  s.vecSet('v', new Float32Array([4, 3, 2, 1]));
  assert.equal(s.getString('v'), 'value kept');
  assert.equal(s.vecClear('v'), true);
  assert.equal(s.vecClear('v'), false);
  assert.equal(s.vecGet('v'), undefined);
  assert.equal(s.getString('v'), 'value kept');
  assert.throws(() => s.vecSet('v', [1, 2]), { code: 'SPL_EDIM' });
  assert.throws(() => s.vecSet('v', [1, NaN, 0, 0]), { code: 'SPL_ENAN' });
  assert.equal(typeof simd(), 'string');
  s.close();
});

test('search: metrics, filters, query by key, async', { skip: noVectors }, async () => {
  const s = vstore();
  s.vecSet('a', [1, 0, 0, 0]);
  s.vecSet('b', [0.9, 0.1, 0, 0]);
  s.vecSet('c', [0, 1, 0, 0]);
  s.vecSet('x:d', [0, 0, 5, 0]);
  s.setLabels('b', 1n);
  s.setLabels('c', 1n);
  let r = s.search({ vector: [1, 0, 0, 0], k: 2 });
  assert.deepEqual(r.hits.map((h) => h.key), ['a', 'b']);
  assert.equal(r.scanned, 4);
  assert.ok(Math.abs(r.hits[0].score - 1) < 1e-6);
  assert.equal(typeof r.hits[0].epoch, 'bigint');
  r = s.search({ vector: [1, 0, 0, 0], k: 1, metric: 'l2' });
  assert.deepEqual(r.hits.map((h) => h.key), ['a']);
  assert.equal(r.hits[0].score, 0);
  r = s.search({ vector: [0, 0, 1, 0], k: 1, metric: 'dot' });
  assert.equal(r.hits[0].key, 'x:d');
  assert.equal(r.hits[0].score, 5);
  r = s.search({ vector: [1, 0, 0, 0], k: 3, labels: 1n });
  assert.deepEqual(r.hits.map((h) => h.key), ['b', 'c']);
  r = s.search({ vector: [0, 0, 1, 0], k: 3, prefix: 'x:' });
  assert.deepEqual(r.hits.map((h) => h.key), ['x:d']);
  r = s.search({ key: 'a', k: 1, skipSelf: true });
  assert.deepEqual(r.hits.map((h) => h.key), ['b']);
  const ra = await s.searchAsync({ vector: new Float32Array([0, 1, 0, 0]), k: 1 });
  assert.equal(ra.hits[0].key, 'c');
  assert.throws(() => s.search({ vector: [1, 0, 0, 0], k: 0 }), { code: 'SPL_EINVAL' });
  assert.throws(() => s.search({ vector: [1, 0, 0, 0], metric: 'hamming' }), TypeError);
  await assert.rejects(s.searchAsync({ vector: [1, 0], k: 1 }), { code: 'SPL_EDIM' });
  s.close();
});

test('f16 and i8 stores round-trip approximately', { skip: noVectors }, () => {
  for (const vecFormat of ['f16', 'i8']) {
    const s = vstore({ vecFormat });
    s.vecSet('v', [0.5, -0.25, 1, 0]);
    const got = s.vecGet('v');
    [0.5, -0.25, 1, 0].forEach((x, i) => assert.ok(Math.abs(got[i] - x) < 0.01, `${vecFormat} ${i}`));
    s.close();
  }
});

test('closing during an async search is safe', { skip: noVectors }, async () => {
  const s = vstore({ slots: 4096 });
  for (let i = 0; i < 4000; i++) s.vecSet(`k${i}`, [i, 1, 2, 3]);
  const p = s.searchAsync({ vector: [1, 1, 1, 1], k: 5 });
  s.close(); // unmapped only once the search has returned
  const r = await p;
  assert.equal(r.hits.length, 5);
});

test('tandem keys: values as ordered groups', () => {
  const s = memStore();
  assert.equal(s.tandemKey('doc', 0), 'doc');
  assert.equal(s.tandemKey('doc', 2), 'doc.2');
  s.tandemSet('doc', ['zero', Buffer.from('one'), 'two']);
  assert.equal(s.tandemCount('doc'), 3);
  assert.equal(s.tandemGet('doc', 1).toString(), 'one');
  assert.equal(s.getString('doc.2'), 'two');
  assert.equal(s.tandemGet('doc', 7), undefined);
  s.tandemSet('doc', ['only']);
  assert.equal(s.tandemCount('doc'), 1, 'surplus members deleted');
  assert.equal(s.tandemUnset('doc'), 1);
  assert.equal(s.tandemGet('doc', 0), undefined);
  // a store without vectors: both forms say so (the nested one said SPL_EDIM)
  assert.throws(() => s.tandemVecSet('emb', [[1]]), { code: 'SPL_ENOTSUP' });
  assert.throws(() => s.tandemVecSet('emb', [1]), { code: 'SPL_ENOTSUP' });
  s.close();
});

test('tandem keys: vectors as ordered groups', { skip: noVectors }, () => {
  const s = vstore();
  s.tandemVecSet('emb', [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
  ]);
  assert.deepEqual([...s.tandemVecGet('emb', 1)], [0, 1, 0, 0]);
  s.tandemVecSet('emb', new Float32Array([0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1]));
  assert.equal(s.tandemCount('emb'), 3);
  assert.deepEqual([...s.tandemVecGet('emb', 2)], [1, 1, 1, 1]);
  assert.throws(() => s.tandemVecSet('emb', new Float32Array(5)), { code: 'SPL_EDIM' });
  assert.equal(s.tandemUnset('emb'), 3);
  assert.equal(s.tandemCount('emb'), 0);
  assert.equal(s.signalRepair(), 0);
  s.close();
});

test('a build without vectors refuses them', { skip: !noVectors && 'this build has vectors' }, async () => {
  assert.equal(simd(), 'none');
  assert.throws(() => simdForce('scalar'), { code: 'SPL_ENOTSUP' });
  assert.throws(() => Store.create(null, { backing: 'memfd', slots: 16, vecDim: 4 }), { code: 'SPL_EFORMAT' });
  const s = memStore({ slots: 16 });
  assert.equal(s.info().embeddings, false);
  s.set('a', 'text');
  assert.throws(() => s.vecSet('a', [1]), { code: 'SPL_ENOTSUP' });
  assert.throws(() => s.vecGet('a'), { code: 'SPL_ENOTSUP' });
  assert.throws(() => s.vecClear('a'), { code: 'SPL_ENOTSUP' });
  assert.throws(() => s.search({ vector: [1], k: 1 }), { code: 'SPL_ENOTSUP' });
  assert.throws(() => s.search({ key: 'a', k: 1 }), { code: 'SPL_ENOTSUP' });
  await assert.rejects(s.searchAsync({ vector: [1], k: 1 }), { code: 'SPL_ENOTSUP' });
  assert.throws(() => s.tandemVecSet('t', [[1]]), { code: 'SPL_ENOTSUP' });
  assert.equal(s.getString('a'), 'text');
  s.close();
});
