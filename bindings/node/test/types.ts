// Compiled (never run) by entry.test.mjs: every call of index.d.ts, typed.
import { Store, PreparedKey, KeyBatch, SplinterError, View, Subscription, errors, errorName, simd, version, GROUPS } from 'splinter';
import type { SplEvent, SearchResult, Meta, Entry, StoreInfo, SplErrorName, NumaModeName } from 'splinter';

async function use(): Promise<void> {
  const s: Store = Store.create(null, { backing: 'memfd', slots: 64, vecDim: 4, vecFormat: 'f16', retryMs: 0 });
  s.retryMs = 100;
  s.set('k', 'v').set('b', Buffer.from('x')).set('f', new Float32Array(2));
  const b: Buffer | undefined = s.get('k');
  const str: string | undefined = s.getString('k');
  const n: number | undefined = s.getInto('k', Buffer.alloc(8));
  const has: boolean = s.has('k');
  const gone: boolean = s.unset('k') || s.delete(new Uint8Array([1]));
  s.append('log', 'x');
  const ok: boolean = s.cas('k', 0n, 'v');
  const i: bigint = s.add('n', 2) + s.inc('n') + s.dec('n') + s.and('n', 1n) + s.or('n', 1) + s.xor('n', 1n) + s.not('n');
  const gi: bigint | undefined = s.getInt('n');
  const m: Meta | undefined = s.meta('k');
  if (m) s.cas('k', m.epoch, 'w');
  s.setType('k', 'json');
  s.setFlags('k', 1);
  s.setLabels('k', 1n);
  s.clearLabels('k', 1n);
  s.touch('k');
  const v: View | undefined = s.view('k');
  if (v && v.valid()) console.log(v.bytes[0], v.epoch, v.buffer.byteLength);
  const sum: number | undefined = s.readWith('k', (bytes) => bytes.length);
  const es: Entry[] = s.entries({ prefix: 'k', glob: '*', labels: 1n, labelsAny: true, values: true });
  const ks: string[] = s.keys();
  s.forEach((e) => e.meta.epoch);
  for (const [key, value] of s) console.log(key, value.length);
  s.vecSet('v', [1, 2, 3, 4]);
  const vec: Float32Array | undefined = s.vecGet('v');
  const cleared: boolean = s.vecClear('v');
  const r: SearchResult = s.search({ vector: new Float32Array(4), k: 3, metric: 'l2', labels: 1n, prefix: 'v', threads: 2 });
  const ra: SearchResult = await s.searchAsync({ key: 'v', skipSelf: true, ann: true, ef: 64 });
  const approx: boolean = r.approximate || ra.approximate;
  s.watch('k', 3);
  s.unwatch('k', [3, 4]);
  s.bind(1, 2n);
  s.unbind(1, 2);
  const bg: bigint = s.bindings(1);
  s.bump('k');
  s.signal(GROUPS - 1);
  const p: bigint = s.pulses(0);
  const sub: Subscription = s.subscribe([1, 2]).unref();
  for await (const ev of sub) {
    const e: SplEvent = ev;
    if (e.kind === 'overflow') break;
  }
  const seen: bigint = s.watchKey('k').seen(0);
  const e2: bigint | null = await s.waitKey('k', 0n, { timeout: 10, signal: AbortSignal.timeout(5) });
  const info: StoreInfo = s.info();
  const place: [number, number[], NumaModeName | null, bigint, number] = [info.pageBytes, info.numaPages, info.numaMode, info.storeId, info.cellsUsed];
  Store.create(null, { backing: 'memfd', vecCells: 2, hugePages: true, numaMode: 'bind', numaNodes: [0] }).close();
  Store.create(null, { backing: 'memfd', hugePages: 2 << 20 }).close();
  s.flush();
  const fd: number = s.fd;
  try {
    Store.open('x', { readOnly: true, noCreatorWait: true });
  } catch (err) {
    if (err instanceof SplinterError) {
      const code: SplErrorName | string = err.code;
      console.log(code, err.errno, err.op, err.key);
    }
  }
  const d: boolean = Store.destroy('x');
  Store.openOrCreate('x', { slots: 8 }).close();
  Store.openFd(fd, { readOnly: true }).close();
  console.log(errors.SPL_ENOENT, errorName(-2), simd(), version, b, str, n, has, gone, ok, i, gi, sum, es, ks, vec, cleared, r, ra, bg, p, seen, e2, info, place, d, approx);
  const pk: PreparedKey = s.prepare('pk');
  pk.set('v').set(new Uint8Array([1]));
  const pv: Buffer | undefined = pk.get();
  const ps: string | undefined = pk.getString();
  const pu: boolean = pk.unset();
  const pa: bigint = pk.add(2) + pk.add(1n) + pk.add();
  const many: (Buffer | undefined)[] = s.setMany([[pk, 'a'], ['plain', Buffer.from('b')]]).getMany([pk, 'plain']);
  s.setMany(new Map<PreparedKey | string, string>([[pk, 'x']]));
  const kb: KeyBatch = s.prepareMany([pk, 'plain', Buffer.from('b')]);
  const kbn: number = kb.length + kb.keys.length;
  const kbs: Store = kb.store;
  const kbv: (Buffer | undefined)[] = s.setMany(kb, ['1', Buffer.from('2'), new Uint8Array(1)]).getMany(kb);
  const kbf: number = s.getManyInto(kb, Buffer.alloc(24), 8, new Int32Array(3));
  console.log(pk.key, pk.store, pv, ps, pu, pa, many, kbn, kbs, kbv, kbf);
  {
    using scoped = Store.create(null, { backing: 'memfd' });
    scoped.set('a', 'b');
  }
  s.close();
}
void use;
