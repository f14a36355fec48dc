// Get and set latency of 64-byte values through the binding, against the
// same loop in C (a helper in the addon, on the same store and keys) in the
// same run.  Hot: 8 keys in turn (as bench/ does).  Random: uniformly
// random keys out of --keys.  Rounds of each case alternate C and JS; the figure is the
// fastest round (the least disturbed by other work on the machine), with
// the median beside it.
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
while (slots < nkeys * 2.5) slots *= 2;
const s = Store.create(null, { backing: 'memfd', slots, keyMax: 32, valMax: 64, vecDim: 0 });
const keys = [];
const value = Buffer.alloc(64, 0x5a);
for (let i = 0; i < nkeys; i++) {
  keys.push(`user:${String(i).padStart(7, '0')}`);
  s.set(keys[i], value);
}
const hot = new Uint32Array(ops);
for (let i = 0; i < ops; i++) hot[i] = (i & 7) * Math.floor(nkeys / 8);
const random = new Uint32Array(ops);
let x = 0x9e3779b9;
for (let i = 0; i < ops; i++) {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  random[i] = (x >>> 0) % nkeys;
}

function jsLoop(op, order) {
  const t0 = process.hrtime.bigint();
  if (op === 'get') for (let i = 0; i < order.length; i++) s.get(keys[order[i]]);
  else if (op === 'getInto') for (let i = 0; i < order.length; i++) s.getInto(keys[order[i]], scratch);
  else for (let i = 0; i < order.length; i++) s.set(keys[order[i]], value);
  return Number(process.hrtime.bigint() - t0) / order.length;
}
const scratch = Buffer.alloc(64);
const cLoop = (op, order) => s._benchC(op === 'set' ? 1 : 0, keys, order, value) / order.length;

const target = 150; // ns over C
const median = (a) => [...a].sort((p, q) => p - q)[a.length >> 1];
const results = [];
for (const op of ['get', 'getInto', 'set']) {
  for (const [pattern, order] of [['hot', hot], ['random', random]]) {
    jsLoop(op, order); // warm up (JIT, caches)
    cLoop(op, order);
    const c = [];
    const j = [];
    for (let r = 0; r < rounds; r++) {
      c.push(cLoop(op, order));
      j.push(jsLoop(op, order));
    }
    const cMin = Math.min(...c);
    const jMin = Math.min(...j);
    results.push({
      op,
      pattern,
      c_ns: +cMin.toFixed(1),
      node_ns: +jMin.toFixed(1),
      overhead_ns: +(jMin - cMin).toFixed(1),
      meets_target: jMin - cMin <= target,
      c_median_ns: +median(c).toFixed(1),
      node_median_ns: +median(j).toFixed(1),
    });
  }
}
s.close();

if (json) {
  console.log(JSON.stringify({ lang: 'node', node: process.version, keys: nkeys, ops, rounds, value_bytes: 64, target_overhead_ns: target, results }));
} else {
  console.log(`node ${process.version}: ${nkeys} keys, 64-byte values, ${rounds} rounds of ${ops} ops (fastest round; median in brackets)`);
  for (const r of results)
    console.log(
      `${r.op.padEnd(8)}${r.pattern.padEnd(7)} C ${String(r.c_ns).padStart(7)} ns (${r.c_median_ns})  node ${String(r.node_ns).padStart(7)} ns (${r.node_median_ns})  overhead ${String(r.overhead_ns).padStart(7)} ns${r.overhead_ns > target ? '  (over the ' + target + ' ns target)' : ''}`,
    );
}
