import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Store, SplinterError, errors, errorName, version } from '../lib/index.mjs';
import { memStore, shmStore, uniqueName } from './helpers.mjs';

test('version follows the library', () => {
  assert.equal(version, '0.1.0');
});

test('create, open, openOrCreate, destroy, close', (t) => {
  const { s, name } = shmStore(t);
  s.set('k', 'v');
  const o = Store.open(name);
  assert.equal(o.getString('k'), 'v');
  assert.equal(o.info().backing, 'shm');
  o.close();
  assert.equal(o.closed, true);
  o.close(); // idempotent
  assert.throws(() => o.get('k'), { code: 'SPL_EINVAL' });
  assert.throws(() => Store.create(name), (e) => e instanceof SplinterError && e.code === 'SPL_EEXIST' && e.errno === errors.SPL_EEXIST);
  const b = Store.openOrCreate(name, { slots: 256, vecDim: 0 });
  assert.equal(b.getString('k'), 'v');
  b.close();
  assert.throws(() => Store.openOrCreate(name, { slots: 512 }), { code: 'SPL_EGEOMETRY' });
  assert.throws(() => Store.open(uniqueName('absent')), { code: 'SPL_ENOENT' });
  assert.equal(Store.destroy(uniqueName('absent')), false);
});

test('read-only handle refuses writes with SPL_EROFS', (t) => {
  const { s, name } = shmStore(t);
  s.set('k', 'v');
  const r = Store.open(name, { readOnly: true });
  assert.equal(r.getString('k'), 'v');
  assert.throws(() => r.set('k', 'w'), { code: 'SPL_EROFS' });
  assert.equal(r.info().readOnly, true);
  r.close();
});

test('a memfd store shared by descriptor', () => {
  const s = memStore();
  s.set('k', 'v');
  const o = Store.openFd(s.fd);
  assert.equal(o.getString('k'), 'v');
  assert.equal(o.info().backing, 'memfd');
  o.close();
  s.close();
});

test('get, set, has, unset, delete: not found is undefined / false', () => {
  const s = memStore();
  assert.equal(s.get('nope'), undefined);
  assert.equal(s.getString('nope'), undefined);
  assert.equal(s.has('nope'), false);
  assert.equal(s.unset('nope'), false);
  assert.equal(s.set('a', 'héllo'), s);
  assert.ok(Buffer.isBuffer(s.get('a')));
  assert.equal(s.getString('a'), 'héllo');
  assert.equal(s.has('a'), true);
  assert.equal(s.delete('a'), true);
  assert.equal(s.has('a'), false);
  s.close();
});

test('values: Buffer, string, typed arrays, DataView, ArrayBuffer, empty', () => {
  const s = memStore();
  s.set('buf', Buffer.from([1, 2, 3]));
  assert.deepEqual([...s.get('buf')], [1, 2, 3]);
  s.set('f32', new Float32Array([1.5]));
  assert.equal(s.get('f32').readFloatLE(0), 1.5);
  s.set('dv', new DataView(new Uint8Array([9, 8]).buffer));
  assert.deepEqual([...s.get('dv')], [9, 8]);
  s.set('ab', new Uint8Array([7]).buffer);
  assert.deepEqual([...s.get('ab')], [7]);
  s.set('empty', '');
  assert.equal(s.get('empty').length, 0);
  assert.throws(() => s.set('bad', 42), TypeError);
  s.close();
});

test('returned Buffers are independent of later reads', () => {
  const s = memStore();
  const got = [];
  for (let i = 0; i < 5000; i++) {
    s.set('k', `value-${i}`);
    got.push(s.get('k'));
  }
  got.forEach((b, i) => assert.equal(b.toString(), `value-${i}`));
  s.close();
});

test('large values: past the pool and up to valMax', () => {
  const s = memStore({ valMax: 1 << 20 });
  for (const n of [100, 16 * 1024, 16 * 1024 + 1, 60 * 1024, 1 << 20]) {
    const v = Buffer.alloc(n, n & 0xff);
    s.set('big', v);
    assert.ok(s.get('big').equals(v), `size ${n}`);
  }
  assert.throws(() => s.set('big', Buffer.alloc((1 << 20) + 1)), { code: 'SPL_E2BIG' });
  s.close();
});

test('getInto copies into a caller buffer', () => {
  const s = memStore();
  s.set('k', 'abcdef');
  const b = Buffer.alloc(16);
  assert.equal(s.getInto('k', b), 6);
  assert.equal(b.subarray(0, 6).toString(), 'abcdef');
  assert.equal(s.getInto('nope', b), undefined);
  assert.throws(() => s.getInto('k', Buffer.alloc(2)), (e) => e.code === 'SPL_ENOBUFS' && e.needed === 6);
  s.close();
});

test('keys: length limits, NUL bytes, Uint8Array keys, never truncated', () => {
  const s = memStore({ keyMax: 8 });
  s.set('12345678', 'x');
  assert.throws(() => s.set('123456789', 'x'), (e) => e instanceof SplinterError && e.code === 'SPL_EKEYLEN' && e.op === 'set');
  assert.throws(() => s.get(''), { code: 'SPL_EKEYLEN' });
  // A multi-byte character past key_max must not be cut off into "1234567".
  assert.throws(() => s.set('1234567é', 'x'), { code: 'SPL_EKEYLEN' });
  assert.equal(s.has('1234567'), false);
  assert.throws(() => s.set('a\0b', 'x'), { code: 'SPL_EINVAL' });
  s.set(Buffer.from('bytes'), 'y');
  assert.equal(s.getString('bytes'), 'y');
  s.set('日本', 'z'); // 6 bytes of UTF-8
  assert.equal(s.getString(Buffer.from('日本')), 'z');
  assert.deepEqual(s.keys().sort(), ['12345678', 'bytes', '日本'].sort());
  s.set('😀', 'e'); // surrogate pair: 4 bytes of UTF-8
  assert.equal(s.getString(Buffer.from('😀')), 'e');
  assert.throws(() => s.get(42), TypeError);
  s.close();
});

test('append and cas', () => {
  const s = memStore({ valMax: 16 });
  s.append('log', 'ab').append('log', 'cd');
  assert.equal(s.getString('log'), 'abcd');
  assert.throws(() => s.append('log', Buffer.alloc(13)), { code: 'SPL_E2BIG' });
  assert.equal(s.cas('c', 0n, 'first'), true);
  assert.equal(s.cas('c', 0n, 'again'), false); // exists
  const e = s.meta('c').epoch;
  assert.equal(s.cas('c', e, 'second'), true);
  assert.equal(s.cas('c', e, 'third'), false); // stale
  assert.equal(s.getString('c'), 'second');
  assert.equal(s.cas('absent', 2n, 'x'), false);
  s.close();
});

test('integer operations', () => {
  const s = memStore();
  assert.equal(s.inc('n'), 1n);
  assert.equal(s.add('n', 41), 42n);
  assert.equal(s.add('n', -50n), -8n);
  assert.equal(s.dec('n'), -9n);
  assert.equal(s.getInt('n'), -9n);
  assert.equal(s.meta('n').type, 'int64');
  s.set('m', Buffer.alloc(8));
  s.setType('m', 'uint64');
  assert.equal(s.or('m', 0b1010n), 0b1010n);
  assert.equal(s.and('m', 0b0010n), 0b0010n);
  assert.equal(s.xor('m', 0b0111n), 0b0101n);
  assert.equal(s.not('m'), 0xfffffffffffffffan);
  s.set('str', 'hello');
  assert.throws(() => s.inc('str'), { code: 'SPL_ETYPE' });
  assert.throws(() => s.getInt('str'), { code: 'SPL_ETYPE' });
  assert.equal(s.getInt('absent'), undefined);
  s.close();
});

test('metadata: type, flags, labels, touch', () => {
  const s = memStore();
  assert.equal(s.meta('nope'), undefined);
  s.set('k', '{"a":1}');
  const m0 = s.meta('k');
  assert.equal(m0.type, 'void');
  assert.equal(m0.size, 7);
  assert.equal(m0.epoch % 2n, 0n);
  s.setType('k', 'json');
  s.setFlags('k', 0x81);
  s.setLabels('k', 0b101n);
  s.clearLabels('k', 0b001n);
  const m1 = s.meta('k');
  assert.equal(m1.type, 'json');
  assert.equal(m1.flags, 0x81);
  assert.equal(m1.labels, 0b100n);
  assert.ok(m1.epoch > m0.epoch);
  assert.equal(m1.atimeNs, 0n);
  s.touch('k');
  assert.ok(s.meta('k').atimeNs > 0n);
  assert.throws(() => s.setType('k', 'nonsense'), { code: 'SPL_EINVAL' });
  assert.throws(() => s.setFlags('k', 256), { code: 'SPL_EINVAL' });
  assert.throws(() => s.touch('nope'), { code: 'SPL_ENOENT' });
  s.close();
});

test('info and errorName', () => {
  const s = memStore({ slots: 128, keyMax: 16, valMax: 32 });
  s.set('a', '1');
  const i = s.info();
  assert.equal(i.slots, 128);
  assert.equal(i.keyMax, 16);
  assert.equal(i.valMax, 32);
  assert.equal(i.used, 1);
  assert.equal(i.capacity, 128);
  assert.equal(typeof i.changes, 'bigint');
  assert.equal(errorName(-2), 'SPL_ENOENT');
  assert.equal(errorName(-1011), 'SPL_EOWNER');
  s.close();
});

test('a full store reports SPL_EFULL', () => {
  const s = memStore({ slots: 4 });
  for (let i = 0; i < 4; i++) s.set(`k${i}`, 'v');
  assert.throws(() => s.set('k4', 'v'), { code: 'SPL_EFULL' });
  s.close();
});

test('iteration of the store as a Map-like iterable', () => {
  const s = memStore();
  s.set('a', '1').set('b', '2');
  const m = new Map([...s].map(([k, v]) => [k, v.toString()]));
  assert.deepEqual(m, new Map([['a', '1'], ['b', '2']]));
  s.close();
});
