// Create options for placement and cell arenas (hugePages, numaMode,
// numaNodes, vecCells) and the StoreInfo fields that report them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Store } from '../lib/index.mjs';
import { memStore, shmStore, noVectors } from './helpers.mjs';

const tiny = { slots: 16, keyMax: 16, valMax: 64 };

/** HugePages_Free and Hugepagesize (bytes) of /proc/meminfo, or null. */
function hugeMeminfo() {
  let text;
  try {
    text = readFileSync('/proc/meminfo', 'utf8');
  } catch {
    return null;
  }
  const free = /^HugePages_Free:\s+(\d+)/m.exec(text);
  const rsvd = /^HugePages_Rsvd:\s+(\d+)/m.exec(text); // reserved by other mappings: not to be had
  const size = /^Hugepagesize:\s+(\d+) kB/m.exec(text);
  return free && size
    ? { free: Number(free[1]) - (rsvd ? Number(rsvd[1]) : 0), bytes: Number(size[1]) * 1024 }
    : null;
}

const huge = hugeMeminfo();

test('hugePages: SPL_ENOHUGE with none free, else the huge page size', { skip: !huge && 'no huge page counts in /proc/meminfo' }, () => {
  for (const hugePages of [true, huge.bytes]) {
    const make = () => memStore({ ...tiny, hugePages });
    if (huge.free <= 0) {
      assert.throws(make, { code: 'SPL_ENOHUGE' }, `hugePages ${hugePages} with HugePages_Free 0`);
      continue;
    }
    const s = make();
    assert.equal(s.info().pageBytes, huge.bytes);
    s.close();
  }
  assert.throws(() => memStore({ hugePages: 'yes' }), TypeError);
  assert.throws(() => memStore({ hugePages: -1 }), TypeError);
});

// A build without NUMA (or a kernel without it) reports no policy.
const numaBuild = (() => {
  const s = memStore(tiny);
  const mode = s.info().numaMode;
  s.close();
  return mode !== null;
})();

test('numaMode bind: a node that does not exist is refused', () => {
  assert.throws(() => memStore({ ...tiny, numaMode: 'bind', numaNodes: [63] }), {
    code: numaBuild ? 'SPL_ENODE' : 'SPL_ENOTSUP',
  });
});

test('numaMode bind on node 0: placed there, or SPL_ENOTSUP without NUMA', () => {
  let s;
  try {
    s = memStore({ ...tiny, numaMode: 'bind', numaNodes: [0] });
  } catch (e) {
    assert.equal(e.code, 'SPL_ENOTSUP', `${e.code}: ${e.message}`);
    assert.equal(numaBuild, false, 'a NUMA build refused node 0');
    return;
  }
  const info = s.info();
  s.close();
  assert.equal(info.numaMode, 'bind');
  assert.deepEqual(info.numaNodes, [0]);
});

test('numaMode and numaNodes: bad names and nodes are TypeErrors', () => {
  for (const numaMode of ['nearest', 'toString', 'BIND', 1])
    assert.throws(() => memStore({ ...tiny, numaMode, numaNodes: [0] }), TypeError, String(numaMode));
  assert.throws(() => memStore({ ...tiny, numaMode: 'bind', numaNodes: [64] }), RangeError);
  assert.throws(() => memStore({ ...tiny, numaMode: 'bind', numaNodes: 1 }), TypeError);
});

test('info: NUMA fields of a store with no policy', () => {
  const s = memStore(tiny);
  const info = s.info();
  s.close();
  assert.equal(info.numaPages.length, 64);
  assert.ok(info.numaAbsent <= info.numaSampled);
  assert.ok(info.numaPages.reduce((a, b) => a + b, 0) + info.numaAbsent <= info.numaSampled);
  if (numaBuild) assert.equal(info.numaMode, 'default');
  else assert.equal(info.numaSampled, 0);
  assert.deepEqual(info.numaNodes, []);
});

test('vecCells: fewer cells than slots; SPL_ENOCELL when all hold a vector', { skip: noVectors }, (t) => {
  const { s, name } = shmStore(t, { vecDim: 4, vecCells: 2 });
  let info = s.info();
  assert.equal(info.cells, 2);
  assert.equal(info.cellsUsed, 0);
  s.vecSet('a', [1, 0, 0, 0]);
  s.vecSet('b', [0, 1, 0, 0]);
  assert.equal(s.info().cellsUsed, 2);
  assert.throws(() => s.vecSet('c', [0, 0, 1, 0]), { code: 'SPL_ENOCELL' });
  assert.equal(s.has('c'), false, 'the refused vector left no key behind');
  s.vecSet('a', [0, 0, 0, 1]); // a key's own cell is rewritten
  assert.deepEqual([...s.vecGet('a')], [0, 0, 0, 1]);
  s.vecClear('b');
  s.vecSet('c', [0, 0, 1, 0]);
  info = s.info();
  assert.equal(info.cellsUsed, 2);
  // open: 0 (unset) takes the store's count, another is SPL_EGEOMETRY
  Store.open(name).close();
  assert.throws(() => Store.openOrCreate(name, { vecDim: 4, vecCells: 3 }), { code: 'SPL_EGEOMETRY' });
});

function osPageSize() {
  try {
    return Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }));
  } catch {
    return 4096;
  }
}

test('info: pageBytes, storeId, residentBytes', (t) => {
  const { s, name } = shmStore(t);
  const info = s.info();
  assert.equal(info.pageBytes, osPageSize());
  assert.equal(typeof info.storeId, 'bigint');
  assert.notEqual(info.storeId, 0n);
  const again = Store.open(name);
  assert.equal(again.info().storeId, info.storeId, 'a second handle of the same store');
  again.close();
  const other = memStore();
  assert.notEqual(other.info().storeId, info.storeId, 'another store');
  other.close();
  assert.ok(info.residentBytes > 0, `residentBytes ${info.residentBytes}`);
  assert.ok(info.residentBytes <= info.regionBytes, `${info.residentBytes} > ${info.regionBytes}`);
});
