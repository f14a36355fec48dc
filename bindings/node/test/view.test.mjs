import { test } from 'node:test';
import assert from 'node:assert/strict';
import { View } from '../lib/index.mjs';
import { memStore } from './helpers.mjs';

test('a view reads the value in place and validates it', () => {
  const s = memStore();
  s.set('k', 'hello');
  const v = s.view('k');
  assert.ok(v instanceof View);
  assert.ok(v.buffer instanceof ArrayBuffer);
  assert.equal(Buffer.from(v.bytes).toString(), 'hello');
  assert.equal(v.length, 5);
  assert.equal(v.epoch, s.meta('k').epoch);
  assert.equal(v.type, 'void');
  assert.equal(v.valid(), true);
  const w = s.view('k'); // two views over the same bytes
  assert.equal(w.valid(), true);
  s.set('k', 'HELLO');
  assert.equal(v.valid(), false, 'a write invalidates the view');
  assert.equal(s.view('k').valid(), true);
  assert.equal(s.view('nope'), undefined);
  s.set('empty', '');
  assert.equal(s.view('empty').length, 0);
  s.close();
});

test('close detaches views: no access to unmapped memory', () => {
  const s = memStore();
  s.set('k', 'hello');
  const v = s.view('k');
  s.close();
  assert.equal(v.buffer.byteLength, 0);
  assert.equal(v.bytes.length, 0);
  assert.throws(() => v.valid(), { code: 'SPL_EINVAL' });
});

test('views keep the mapping alive after the store object is collected', { skip: typeof global.gc !== 'function' && 'needs --expose-gc' }, async () => {
  let s = memStore();
  s.set('k', 'still here');
  const v = s.view('k');
  s = null;
  global.gc();
  await new Promise((r) => setImmediate(r));
  global.gc();
  assert.equal(Buffer.from(v.bytes).toString(), 'still here');
});

test('readWith returns what fn read from one consistent value', () => {
  const s = memStore();
  s.set('k', Buffer.from([1, 2, 3, 4]));
  const sum = s.readWith('k', (b) => b.reduce((a, x) => a + x, 0));
  assert.equal(sum, 10);
  assert.equal(s.readWith('nope', () => 1), undefined);
  s.close();
});
