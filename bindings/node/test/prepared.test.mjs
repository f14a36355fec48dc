import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Store, PreparedKey, SplinterError } from '../lib/index.mjs';
import { memStore } from './helpers.mjs';

test('prepared key round trip', () => {
  const s = memStore({ keyMax: 64, valMax: 4096 });
  try {
    const k = s.prepare('temp');
    assert.ok(k instanceof PreparedKey);
    assert.equal(k.key, 'temp');
    assert.equal(k.store, s);
    assert.equal(k.get(), undefined);
    assert.equal(k.set('hot'), k);
    assert.equal(k.getString(), 'hot');
    assert.equal(s.getString('temp'), 'hot');
    s.set('temp', Buffer.alloc(1000, 7));
    assert.deepEqual(k.get(), Buffer.alloc(1000, 7));
    assert.equal(k.unset(), true);
    assert.equal(k.unset(), false);
    const c = s.prepare(Buffer.from('count'));
    assert.equal(c.add(5), 5n);
    assert.equal(c.add(-2n), 3n);
    assert.equal(c.add(), 4n);
    assert.throws(() => s.prepare('k'.repeat(100)), { code: 'SPL_EKEYLEN' });
    assert.throws(() => s.prepare('a\0b'), { code: 'SPL_EINVAL' });
  } finally {
    s.close();
  }
});

test('a prepared key of a closed store throws', () => {
  const s = memStore();
  const k = s.prepare('a');
  s.close();
  assert.throws(() => k.get(), { code: 'SPL_EINVAL' });
});

test('a key prepared for another store is refused', () => {
  const a = memStore();
  const b = memStore();
  try {
    const k = a.prepare('a');
    k.set('1');
    assert.throws(() => b.getMany([k]), (e) => e instanceof SplinterError && e.code === 'SPL_EINVAL' && e.key === 'a');
    assert.throws(() => b.setMany([[k, '2']]), { code: 'SPL_EINVAL' });
    assert.equal(k.getString(), '1');
    assert.equal(b.get('a'), undefined);
    assert.throws(() => a.getMany(['a', {}]), TypeError);
  } finally {
    a.close();
    b.close();
  }
});

test('batches give results per key', () => {
  const s = memStore({ valMax: 4096 });
  try {
    const [a, c, big] = ['a', 'c', 'big'].map((k) => s.prepare(k));
    s.setMany([[a, '1'], ['b', Buffer.from('22')], [c, '333'], [big, Buffer.alloc(1000, 9)]]);
    s.setMany(new Map([['d', '4']]));
    const got = s.getMany([a, 'b', 'missing', c, big, s.prepare('d')]);
    assert.deepEqual(got.map((v) => v && v.toString()), ['1', '22', undefined, '333', Buffer.alloc(1000, 9).toString(), '4']);
    assert.deepEqual(s.getMany([]), []);
    assert.equal(s.setMany([]), s);
  } finally {
    s.close();
  }
});
