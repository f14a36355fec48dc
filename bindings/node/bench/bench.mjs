// Get and set latency of 64-byte values through the binding, against the
// C baseline of bench/bindings/c_loop.h (a helper in the addon runs the
// whole C loop, on the same store and keys) in the same process.  The
// workload is the one every binding's bench runs (c_loop.h,
// bench/bindings/README.md): --keys keys "key:%08u", hot = 8 keys in turn,
// random = xorshift32 (the order comes from c_loop.h).  Rounds alternate C
// and JS; the figure is the fastest round (the least disturbed by other
// work on the machine), the median beside it.  C is given two ways:
// pipelined (a C loop, the CPU overlapping successive gets' cache misses)
// and dependent (each get waits for the previous one's value: one get's
// latency).  The floors of a Node-API binding are timed in the same run:
// an empty native call (two arguments), and one that also converts the key
// as get does.  Batches: getMany and getManyInto over 64 prepared keys a
// call (per key), given as an array of PreparedKeys or as one KeyBatch
// (the ops ending in "kb").
//
//   node bench/bench.mjs [--keys 100000] [--ops 200000] [--rounds 15] [--json]
import { Store } from '../lib/index.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const nkeys = arg('keys', 100000);
const ops = arg('ops', 200000);
const rounds = arg('rounds', 15);
const json = process.argv.includes('--json');

let slots = 1;
while (slots < nkeys * 2.5) slots *= 2; // c_loop.h's splb_slots
const s = Store.create(null, { backing: 'memfd', slots, keyMax: 32, valMax: 64, vecDim: 0 });
const keys = [];
const value = Buffer.alloc(64, 0x5a);
for (let i = 0; i < nkeys; i++) {
  keys.push(`key:${String(i).padStart(8, '0')}`);
  s.set(keys[i], value);
}
const hot = s._benchOrder(0, ops, nkeys);
const random = s._benchOrder(1, ops, nkeys);
const scratch = Buffer.alloc(64);
const f = s._f; // the addon's raw functions (what get() calls)

let batches = []; // getMany64 / getManyInto64: arrays of 64 PreparedKeys
const mbuf = Buffer.alloc(64 * 64);
const mlens = new Int32Array(64);
function jsLoop(op, order) {
  const t0 = process.hrtime.bigint();
  if (op === 'getMany64' || op === 'getMany64kb') {
    for (const b of batches) s.getMany(b);
    return Number(process.hrtime.bigint() - t0) / (batches.length * 64);
  }
  if (op === 'getManyInto64' || op === 'getManyInto64kb') {
    for (const b of batches) s.getManyInto(b, mbuf, 64, mlens);
    return Number(process.hrtime.bigint() - t0) / (batches.length * 64);
  }
  if (op === 'get') for (let i = 0; i < order.length; i++) s.get(keys[order[i]]);
  else if (op === 'getInto') for (let i = 0; i < order.length; i++) s.getInto(keys[order[i]], scratch);
  else for (let i = 0; i < order.length; i++) s.set(keys[order[i]], value);
  return Number(process.hrtime.bigint() - t0) / order.length;
}
const cLoop = (op, dep, order) => s._benchC(op === 'set' ? 1 : 0, dep, order, value) / order.length;
function timed(fn) {
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / ops);
  }
  return +best.toFixed(1);
}
const floors = {
  napi_call_ns: timed(() => {
    for (let i = 0; i < hot.length; i++) f.noop(keys[hot[i]], 0);
  }),
  napi_get_shape_ns: timed(() => {
    for (let i = 0; i < hot.length; i++) f.noopKey(keys[hot[i]], 0);
  }),
};

const target = 150; // ns over C (pipelined)
const median = (a) => [...a].sort((p, q) => p - q)[a.length >> 1];
const results = [];
let prepared = null;
for (const op of ['get', 'getInto', 'set', 'getMany64', 'getManyInto64', 'getMany64kb', 'getManyInto64kb']) {
  // Batches of 64 prepared keys: last, as 100,000 PreparedKeys weigh on
  // the other cases' collections.
  if (op.startsWith('getMany') && !prepared) prepared = keys.map((k) => s.prepare(k));
  for (const [pattern, order] of [['hot', hot], ['random', random]]) {
    if (prepared) {
      batches = [];
      const kb = op.endsWith('kb'); // a KeyBatch of the 64 keys, or an array of 64 PreparedKeys
      for (let i = 0; i + 64 <= order.length; i += 64) {
        const b = Array.from(order.subarray(i, i + 64), (k) => (kb ? keys[k] : prepared[k]));
        batches.push(kb ? s.prepareMany(b) : b);
      }
    }
    jsLoop(op, order); // warm up (JIT, caches)
    cLoop(op, 0, order);
    const c = [];
    const d = [];
    const j = [];
    for (let r = 0; r < rounds; r++) {
      c.push(cLoop(op, 0, order));
      d.push(cLoop(op, 1, order));
      j.push(jsLoop(op, order));
    }
    const cMin = Math.min(...c);
    const dMin = Math.min(...d);
    const jMin = Math.min(...j);
    results.push({
      op,
      pattern,
      c_ns: +cMin.toFixed(1),
      c_dep_ns: +dMin.toFixed(1),
      node_ns: +jMin.toFixed(1),
      overhead_ns: +(jMin - cMin).toFixed(1),
      overhead_dep_ns: +(jMin - dMin).toFixed(1),
      meets_target: jMin - cMin <= target,
      c_median_ns: +median(c).toFixed(1),
      node_median_ns: +median(j).toFixed(1),
    });
  }
}
s.close();

if (json) {
  console.log(JSON.stringify({ lang: 'node', node: process.version, keys: nkeys, ops, rounds, value_bytes: 64, target_overhead_ns: target, floors, results }));
} else {
  const p = (x, w) => String(x).padStart(w);
  console.log(`node ${process.version}: ${nkeys} keys, 64-byte values, ${rounds} rounds of ${ops} ops (fastest round; median in brackets)`);
  console.log(`floors: an empty Node-API call ${floors.napi_call_ns} ns; with the key converted as get does ${floors.napi_get_shape_ns} ns`);
  console.log(`${''.padEnd(23)} ${p('C', 16)} ${p('C dep', 9)} ${p('node', 16)} ${p('node-C', 9)} ${p('node-Cdep', 9)}`);
  for (const r of results)
    console.log(
      `${r.op.padEnd(16)}${r.pattern.padEnd(7)} ${p(r.c_ns, 7)} (${p(r.c_median_ns, 6)}) ${p(r.c_dep_ns, 9)} ${p(r.node_ns, 7)} (${p(r.node_median_ns, 6)}) ${p(r.overhead_ns, 9)} ${p(r.overhead_dep_ns, 9)}${r.overhead_ns > target ? '  (over the ' + target + ' ns target)' : ''}`,
    );
}
