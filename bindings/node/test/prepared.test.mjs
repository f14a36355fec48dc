import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Store, PreparedKey, KeyBatch, SplinterError } from '../lib/index.mjs';
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

test('a KeyBatch serves the batch calls', () => {
  const s = memStore({ keyMax: 16, valMax: 4096 });
  try {
    const pk = s.prepare('pk');
    const b = s.prepareMany(['a', Buffer.from('b'), 'missing', pk, 'big', 'ü']);
    assert.ok(b instanceof KeyBatch);
    assert.equal(b.length, 6);
    assert.equal(b.store, s);
    assert.deepEqual(b.keys, ['a', Buffer.from('b'), 'missing', 'pk', 'big', 'ü']);
    assert.equal(s.setMany(b, ['1', Buffer.from('22'), '333', '4', Buffer.alloc(1000, 9), 'u']), s);
    s.unset('missing');
    assert.equal(s.getString('b'), '22');
    assert.equal(pk.getString(), '4');
    assert.equal(s.getString('ü'), 'u');
    const got = s.getMany(b);
    assert.deepEqual(got.map((v) => v && v.toString()), ['1', '22', undefined, '4', Buffer.alloc(1000, 9).toString(), 'u']);
    const buf = Buffer.alloc(6 * 8);
    const lens = new Int32Array(6);
    assert.equal(s.getManyInto(b, buf, 8, lens), 4); // "big" does not fit: not counted
    assert.deepEqual([...lens], [1, 2, -1, 1, 1000, 1]);
    assert.equal(buf.subarray(8, 10).toString(), '22');
    // the batch holds its own bytes: a Buffer key changed later does not move it
    const kb = Buffer.from('a');
    const b2 = s.prepareMany([kb]);
    kb[0] = 0x7a;
    assert.equal(s.getMany(b2)[0].toString(), '1');
    assert.throws(() => s.getManyInto(b, buf.subarray(0, 8), 8, lens), { code: 'SPL_EINVAL' });
    assert.throws(() => s.setMany(b, ['1']), TypeError);
    assert.throws(() => s.prepareMany(['k'.repeat(17)]), { code: 'SPL_EKEYLEN' });
    assert.throws(() => s.prepareMany(['a\0b']), { code: 'SPL_EINVAL' });
    assert.throws(() => s.getMany({ length: 1 }), TypeError);
    assert.equal(s.prepareMany([]).length, 0);
    assert.deepEqual(s.getMany(s.prepareMany([])), []);
    // more keys than one spl_get_many takes (64)
    const names = [];
    for (let i = 0; i < 150; i++) {
      names.push(`m${i}`);
      if (i % 3) s.set(`m${i}`, String(i));
    }
    const big = s.prepareMany(names);
    const lens2 = new Int32Array(150);
    assert.equal(s.getManyInto(big, Buffer.alloc(150 * 4), 4, lens2), 100);
    const vals = s.getMany(big);
    for (let i = 0; i < 150; i++) {
      assert.equal(lens2[i], i % 3 ? String(i).length : -1);
      assert.equal(vals[i] && vals[i].toString(), i % 3 ? String(i) : undefined);
    }
  } finally {
    s.close();
  }
});

test('a KeyBatch of another store is refused, and a closed store refuses its own', () => {
  const a = memStore();
  const b = memStore();
  a.set('x', '1');
  const kb = a.prepareMany(['x']);
  try {
    assert.throws(() => b.getMany(kb), (e) => e instanceof SplinterError && e.code === 'SPL_EINVAL' && e.key === 'x');
    assert.throws(() => b.setMany(kb, ['2']), { code: 'SPL_EINVAL' });
    assert.equal(b.get('x'), undefined);
    assert.equal(a.getMany(kb)[0].toString(), '1');
  } finally {
    a.close();
    b.close();
  }
  assert.throws(() => a.getMany(kb), { code: 'SPL_EINVAL' });
  assert.throws(() => a.prepareMany(['x']), { code: 'SPL_EINVAL' });
});
