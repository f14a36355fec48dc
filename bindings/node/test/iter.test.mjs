import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memStore } from './helpers.mjs';

test('entries, keys and forEach with filters', () => {
  const s = memStore();
  s.set('user:1', 'a').set('user:2', 'b').set('item:1', 'c').set('item:22', 'd');
  s.setLabels('user:1', 0b01n);
  s.setLabels('item:1', 0b11n);
  s.setLabels('item:22', 0b10n);
  assert.deepEqual(s.keys().sort(), ['item:1', 'item:22', 'user:1', 'user:2']);
  assert.deepEqual(s.keys({ prefix: 'user:' }).sort(), ['user:1', 'user:2']);
  assert.deepEqual(s.keys({ glob: 'item:?' }), ['item:1']);
  assert.deepEqual(s.keys({ labels: 0b11n }), ['item:1']);
  assert.deepEqual(s.keys({ labels: 0b11n, labelsAny: true }).sort(), ['item:1', 'item:22', 'user:1']);
  const withValues = s.entries({ prefix: 'item:', values: true }).sort((a, b) => a.key.localeCompare(b.key));
  assert.deepEqual(withValues.map((e) => e.value.toString()), ['c', 'd']);
  assert.equal(withValues[0].meta.labels, 0b11n);
  assert.equal(s.entries({ prefix: 'user:' })[0].value, undefined);
  const seen = [];
  s.forEach((e) => seen.push(e.key), { prefix: 'user:2' });
  assert.deepEqual(seen, ['user:2']);
  s.close();
});
