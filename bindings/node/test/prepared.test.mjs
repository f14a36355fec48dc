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
    // getManyInto: in place; 'big' does not fit a stride of 8
    const buf = Buffer.alloc(6 * 8);
    const lens = new Int32Array(6);
    assert.equal(s.getManyInto([a, 'b', 'missing', c, big, 'd'], buf, 8, lens), 4);
    assert.deepEqual([...lens], [1, 2, -1, 3, 1000, 1]);
    assert.equal(buf.subarray(8, 10).toString(), '22');
    assert.throws(() => s.getManyInto([a, c], buf.subarray(0, 8), 8, lens), { code: 'SPL_EINVAL' });
    assert.throws(() => s.getManyInto([a], buf, 8, new Uint32Array(1)), TypeError);
    // more keys than one spl_get_many takes (64)
    const many = [];
    for (let i = 0; i < 150; i++) {
      many.push(s.prepare(`m${i}`));
      if (i % 3) s.set(`m${i}`, String(i));
    }
    const vals = s.getMany(many);
    const lens2 = new Int32Array(150);
    assert.equal(s.getManyInto(many, Buffer.alloc(150 * 4), 4, lens2), 100);
    for (let i = 0; i < 150; i++) {
      assert.equal(vals[i] && vals[i].toString(), i % 3 ? String(i) : undefined);
      assert.equal(lens2[i], i % 3 ? String(i).length : -1);
    }
  } finally {
    s.close();
  }
});
