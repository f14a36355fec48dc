// tests/interop/worker.mjs - the Node.js side of the cross-language test
// (tests/interop/run.py): node worker.mjs STORE ROLE [ARGS].
import { Store } from '../../bindings/node/lib/index.mjs';

const LANGS = ['c', 'py', 'node', 'rust', 'go'];
const NKEYS = 4, HAM_MIN = 65536, HAM_STEP = 16384;
const now = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));

function expect(lang, i) {
  const tail = Buffer.alloc(i + 1, 255 - i);
  const all = Buffer.from(Array.from({ length: 256 }, (_, b) => b));
  return Buffer.concat([Buffer.from([0]), Buffer.from(lang), Buffer.from([0]), all, tail]);
}
const fail = (msg) => { console.log(`FAIL ${msg}`); process.exit(1); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const [path, role, ...args] = process.argv.slice(2);
const s = Store.open(path, { retryMs: 1000 });
if (role === 'kv') {
  for (let i = 0; i < NKEYS; i++) s.set(`node.k${i}`, expect('node', i));
  const n = Number(args[0]);
  for (let i = 0; i < n; i++) s.inc('ctr');
  for (const lang of LANGS) {
    for (let i = 0; i < NKEYS; i++) {
      const key = `${lang}.k${i}`;
      let got;
      for (let t = 0; t < 3000 && (got = s.get(key)) === undefined; t++) await sleep(10);
      if (!got || !got.equals(expect(lang, i))) fail(`${key}: differs (${got && got.length} bytes)`);
    }
  }
  console.log(`ok node read ${LANGS.length * NKEYS} keys`);
} else if (role === 'hammer') {
  for (let it = 0; ; it++) {
    s.set('node.h', Buffer.alloc(HAM_MIN + (it % 8) * HAM_STEP, it & 0xff));
    s.inc('node.hn');
    if (it === 0) console.log('ready');
    if (it % 64 === 0) await sleep(0); // let stdout flush
  }
} else if (role === 'set') {
  const t = now(); // just before the write
  s.set(args[0], args[1]);
  console.log(`wrote ${t}`);
} else if (role === 'wait') { // wait KEY WANT: sleep until KEY changes (no polling)
  const [key, want] = args;
  if (!s.meta(key)) s.set(key, 'init');
  const p = s.waitKey(key, s.meta(key).epoch, { timeout: 10000 });
  console.log('ready');
  let ep;
  try { ep = await p; } catch (e) { fail(`wait: ${e.code || e}`); }
  const t = now();
  const v = s.getString(key);
  if (ep === null || v !== want) fail(`woke at epoch ${ep}: value ${JSON.stringify(v)}, want ${want}`);
  console.log(`woke ${t}`);
} else {
  process.exit(2);
}
s.close();
