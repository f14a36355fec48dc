'use strict';
// Splinter for Node.js: the public API over the native addon (src/addon.cc).
// Types and documentation: index.d.ts.

const path = require('node:path');

function loadNative() {
  const root = path.join(__dirname, '..');
  const tries = [path.join(root, 'build', 'Release', 'splinter.node'), path.join(root, 'build', 'Debug', 'splinter.node')];
  let first;
  for (const p of tries) {
    try {
      return require(p);
    } catch (e) {
      if (e.code !== 'MODULE_NOT_FOUND') throw e;
      first = first || e;
    }
  }
  throw new Error(`splinter: the native addon is not built (run \`npm run build\` in ${root}): ${first && first.message}`);
}

const native = loadNative();

/** An error from the library: `code` is the SPL_E* name, `errno` its value. */
class SplinterError extends Error {
  constructor(message, code, errno) {
    super(message);
    this.name = 'SplinterError';
    this.code = code;
    this.errno = errno;
  }
}
native.setErrorClass(SplinterError);

// Values come back as Buffers that are views into a pool (like Node's own
// small Buffers): get() reads straight into the pool, no second copy.
// (Named Buffer so that it prints as one; Buffer.isBuffer() is true.)
const PooledBuffer = { Buffer: class extends Uint8Array {} }.Buffer;
Object.setPrototypeOf(PooledBuffer.prototype, Buffer.prototype);
const POOL_BYTES = 64 * 1024;

const Backing = Object.freeze({ auto: 0, shm: 1, file: 2, memfd: 3 });
const VecFormat = Object.freeze({ f32: 0, f16: 1, i8: 2 });
const Metric = Object.freeze({ cosine: 0, dot: 1, l2: 2 });
const IntOp = Object.freeze({ add: 0, and: 1, or: 2, xor: 3, not: 4 });
const NumaMode = Object.freeze({ default: 0, bind: 1, interleave: 2, preferred: 3, local: 4 });
const NUMA_NODES_MAX = 64;
const U32_MAX = 0xffffffff;
const O_RDONLY = 1;
const O_GROUP = 2;
const O_NOWAIT = 4;

function nativeOptions(opts = {}) {
  const o = {};
  if (opts.backing !== undefined) {
    const b = typeof opts.backing === 'string' ? Backing[opts.backing] : opts.backing;
    if (b === undefined) throw new TypeError(`unknown backing ${opts.backing}`);
    o.backing = b;
  }
  let flags = 0;
  if (opts.readOnly) flags |= O_RDONLY;
  if (opts.group) flags |= O_GROUP;
  if (opts.noCreatorWait) flags |= O_NOWAIT;
  o.flags = flags;
  for (const k of ['mode', 'slots', 'keyMax', 'valMax', 'vecDim', 'feedLen']) if (opts[k] !== undefined) o[k] = opts[k];
  if (opts.vecFormat !== undefined) {
    const f = typeof opts.vecFormat === 'string' ? VecFormat[opts.vecFormat] : opts.vecFormat;
    if (f === undefined) throw new TypeError(`unknown vecFormat ${opts.vecFormat}`);
    o.vecFormat = f;
  }
  if (opts.tandemSep !== undefined) o.tandemSep = typeof opts.tandemSep === 'string' ? opts.tandemSep.charCodeAt(0) : opts.tandemSep;
  if (opts.vecCells !== undefined) o.vecCells = u32Option('vecCells', opts.vecCells);
  if (opts.numaMode !== undefined) {
    if (typeof opts.numaMode !== 'string' || !Object.hasOwn(NumaMode, opts.numaMode)) throw new TypeError(`unknown numaMode ${opts.numaMode}`);
    o.numaMode = NumaMode[opts.numaMode];
  }
  if (opts.numaNodes !== undefined) o.numaNodes = nodeMask(opts.numaNodes);
  if (opts.hugePages !== undefined) o.hugePages = opts.hugePages === true ? 1 : opts.hugePages === false ? 0 : u32Option('hugePages', opts.hugePages);
  return o;
}

function u32Option(name, v) {
  if (!Number.isInteger(v) || v < 0 || v > U32_MAX) throw new TypeError(`${name} must be an integer, 0 to 2^32-1`);
  return v;
}

// [0, 2] -> 0b101n (nodes 0..63)
function nodeMask(nodes) {
  if (!Array.isArray(nodes)) throw new TypeError('numaNodes must be an array of node numbers');
  let m = 0n;
  for (const n of nodes) {
    if (!Number.isInteger(n) || n < 0 || n >= NUMA_NODES_MAX) throw new RangeError(`NUMA node ${n} is not 0..${NUMA_NODES_MAX - 1}`);
    m |= 1n << BigInt(n);
  }
  return m;
}

function mask(groups) {
  // a bigint mask, a group number, or an array of group numbers
  if (typeof groups === 'bigint') return groups;
  if (typeof groups === 'number') return 1n << BigInt(groups);
  if (Array.isArray(groups)) return groups.reduce((m, g) => m | (1n << BigInt(g)), 0n);
  throw new TypeError('groups must be a bigint mask, a group number or an array of group numbers');
}

function metricOf(m) {
  if (m === undefined) return 0;
  const v = typeof m === 'string' ? Metric[m] : m;
  if (v === undefined) throw new TypeError(`unknown metric ${m}`);
  return v;
}

function abortError(signal) {
  const e = new Error('The operation was aborted', { cause: signal && signal.reason });
  e.name = 'AbortError';
  e.code = 'ABORT_ERR';
  return e;
}

/**
 * A zero-copy view of a value where it lies in the shared mapping.  The
 * bytes may change under the reader at any moment: read them, then call
 * valid(); only if it returns true did every byte read belong to one value.
 */
class View {
  constructor(store, ab, epoch, slot, type) {
    this._store = store;
    this.buffer = ab;
    this.bytes = new Uint8Array(ab);
    this.epoch = epoch;
    this.slot = slot;
    this.type = type;
  }
  get length() {
    return this.bytes.length;
  }
  /** True while the value is the one the view was taken at. */
  valid() {
    return this._store._n.viewValid(this.epoch, this.slot);
  }
}

/**
 * A subscription to signal groups: an async iterator of change events, fed
 * by libuv polling the subscription's descriptor (never a timer).
 */
class Subscription {
  constructor(store, groups, filterKey) {
    this._n = new native.NativeSubscription(store._n, mask(groups));
    this._store = store;
    this._key = filterKey;
    this._queue = [];
    this._waiters = [];
    this._closed = false;
    this._started = false;
  }

  _start() {
    if (this._started) return;
    this._started = true;
    this._n.start(() => this._drain());
  }

  _drain() {
    if (this._closed) return;
    for (;;) {
      const ev = this._n.next();
      if (ev === null) break;
      if (this._key !== undefined && ev.kind !== 'overflow' && ev.key !== this._key) continue;
      const w = this._waiters.shift();
      if (w) w.resolve({ value: ev, done: false });
      else this._queue.push(ev);
    }
  }

  /** The next event, or null if none is waiting (never blocks). */
  poll() {
    if (this._closed) return null;
    if (this._queue.length) return this._queue.shift();
    for (;;) {
      const ev = this._n.next();
      if (ev === null) return null;
      if (this._key !== undefined && ev.kind !== 'overflow' && ev.key !== this._key) continue;
      return ev;
    }
  }

  /** The next event; resolves when one arrives (or { done: true } once closed). */
  next() {
    if (this._queue.length) return Promise.resolve({ value: this._queue.shift(), done: false });
    if (this._closed) return Promise.resolve({ value: undefined, done: true });
    this._start();
    this._drain(); // events that arrived before the poll started
    if (this._queue.length) return Promise.resolve({ value: this._queue.shift(), done: false });
    return new Promise((resolve, reject) => this._waiters.push({ resolve, reject }));
  }

  return() {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /** The group's pulse counter as this subscription last saw it. */
  seen(group) {
    return this._n.seen(group);
  }

  /** Let the process exit while this subscription waits (like timer.unref()). */
  unref() {
    this._start();
    this._n.unref();
    return this;
  }

  ref() {
    this._start();
    this._n.ref();
    return this;
  }

  close() {
    if (this._closed) return;
    this._closed = true;
    this._n.close();
    for (const w of this._waiters.splice(0)) w.resolve({ value: undefined, done: true });
  }
}

/**
 * A key measured and hashed once for one store (Store.prepare): its calls
 * skip the hashing.  It holds its own copy of the key's bytes and works only
 * with its store; another store's getMany/setMany refuse it (SPL_EINVAL).
 */
class PreparedKey {
  constructor(store, n, key) {
    this._store = store;
    this._n = n;
    this.key = key;
  }
  /** The store it was prepared for. */
  get store() {
    return this._store;
  }
  /** The value (a Buffer), or undefined if absent. */
  get() {
    return this._n.get();
  }
  getString() {
    const b = this._n.get();
    return b === undefined ? undefined : b.toString('utf8');
  }
  set(value) {
    this._n.set(value);
    return this;
  }
  /** true if the key was there. */
  unset() {
    return this._n.unset();
  }
  /** Add delta to an int64 value (a missing key starts at 0); the new value. */
  add(delta = 1n) {
    return this._n.add(delta);
  }
}

/**
 * Keys measured and hashed once for one store (Store.prepareMany), for the
 * batch calls: one object to hand over, where an array of PreparedKeys
 * costs a native step per key.  It holds its own copy of the keys' bytes.
 */
class KeyBatch {
  constructor(store, n, keys) {
    this._store = store;
    this._n = n;
    this.keys = keys;
  }
  /** The store it was prepared for. */
  get store() {
    return this._store;
  }
  get length() {
    return this.keys.length;
  }
}

class Store {
  constructor(n, fast, opts) {
    this._n = n;
    this._f = fast;
    this._pool = null;
    this._off = 0;
    this._newPool();
    this.retryMs = opts && opts.retryMs !== undefined ? opts.retryMs : 100;
  }

  static _attach(mode, name, opts = {}) {
    const n = new native.NativeStore();
    const fast = n.attach(mode, name, nativeOptions(opts));
    return new Store(n, fast, opts);
  }

  _newPool() {
    this._pool = new ArrayBuffer(POOL_BYTES);
    this._off = 0;
    this._f.setPool(this._pool);
  }

  _getLarge(key, need) {
    if (need <= POOL_BYTES / 4) {
      this._newPool();
      return this.get(key);
    }
    for (;;) {
      const b = Buffer.allocUnsafeSlow(need);
      try {
        const n = this._f.getInto(key, b);
        if (n < 0) return undefined;
        return n === need ? b : b.subarray(0, n);
      } catch (e) {
        if (e.code !== 'SPL_ENOBUFS') throw e;
        need = e.needed; // it grew in between
      }
    }
  }

  /** Create a new store (fails with SPL_EEXIST if it exists). */
  static create(name, opts) {
    return Store._attach(0, name, opts);
  }
  /** Open an existing store. */
  static open(name, opts) {
    return Store._attach(1, name, opts);
  }
  /** Open, or create if absent. */
  static openOrCreate(name, opts) {
    return Store._attach(2, name, opts);
  }
  /** Attach to a store given by a file descriptor (a memfd received from elsewhere). */
  static openFd(fd, opts) {
    return Store._attach(3, fd, opts);
  }
  /** Unlink a named store; true if it existed. Open handles stay valid. */
  static destroy(name, opts) {
    return native.destroy(name, nativeOptions(opts));
  }

  /** Contention: retry SPL_EAGAIN for this many ms (0: throw SPL_EAGAIN at once). */
  get retryMs() {
    return this._retryMs;
  }
  set retryMs(ms) {
    this._retryMs = ms;
    this._n.setRetry(ms);
  }

  get closed() {
    return this._n.closed();
  }
  close() {
    this._n.close();
  }
  [Symbol.dispose]() {
    this.close();
  }

  info() {
    return this._n.info();
  }
  flush() {
    this._n.flush();
  }
  get fd() {
    return this._n.fd();
  }

  // ---- key-value
  get(key) {
    const off = this._off;
    const n = this._f.get(key, off);
    if (n >= 0) {
      this._off = (off + n + 7) & ~7;
      return new PooledBuffer(this._pool, off, n);
    }
    if (n === -1) return undefined;
    return this._getLarge(key, -n - 2);
  }
  getString(key) {
    const b = this.get(key);
    return b === undefined ? undefined : b.toString('utf8');
  }
  getInto(key, buf) {
    const n = this._f.getInto(key, buf);
    return n < 0 ? undefined : n;
  }
  set(key, value) {
    this._f.set(key, value);
    return this;
  }
  has(key) {
    return this._f.has(key);
  }
  unset(key) {
    return this._f.unset(key);
  }
  delete(key) {
    return this._f.unset(key);
  }
  append(key, data) {
    this._n.append(key, data);
    return this;
  }
  cas(key, expectedEpoch, value) {
    return this._n.cas(key, expectedEpoch, value);
  }

  // ---- integers (8-byte values of type int64/uint64)
  add(key, delta = 1n) {
    return this._n.add(key, delta);
  }
  inc(key) {
    return this._n.add(key, 'inc');
  }
  dec(key) {
    return this._n.add(key, 'dec');
  }
  and(key, operand) {
    return this._n.int(key, IntOp.and, operand);
  }
  or(key, operand) {
    return this._n.int(key, IntOp.or, operand);
  }
  xor(key, operand) {
    return this._n.int(key, IntOp.xor, operand);
  }
  not(key) {
    return this._n.int(key, IntOp.not, 0n);
  }
  getInt(key) {
    const b = this.get(key);
    if (b === undefined) return undefined;
    if (b.length !== 8) throw new SplinterError(`getInt '${key}': value is ${b.length} bytes, not 8 (SPL_ETYPE)`, 'SPL_ETYPE', native.errors.SPL_ETYPE);
    return b.readBigInt64LE(0);
  }

  // ---- metadata
  meta(key) {
    return this._n.meta(key);
  }
  setType(key, type) {
    this._n.setType(key, type);
  }
  setFlags(key, flags) {
    this._n.setFlags(key, flags);
  }
  setLabels(key, mask) {
    this._n.setLabels(key, mask);
  }
  clearLabels(key, mask) {
    this._n.clearLabels(key, mask);
  }
  touch(key) {
    this._n.touch(key);
  }

  // ---- zero copy
  view(key) {
    const r = this._n.view(key);
    return r === undefined ? undefined : new View(this, r[0], r[1], r[2], r[3]);
  }
  /** Run fn over the value in place until it reads one consistent value. */
  readWith(key, fn, tries = 64) {
    for (let i = 0; i < tries; i++) {
      const v = this.view(key);
      if (v === undefined) return undefined;
      const out = fn(v.bytes, v);
      if (v.valid()) return out;
    }
    throw new SplinterError(`readWith '${key}': the value kept changing (SPL_EAGAIN)`, 'SPL_EAGAIN', native.errors.SPL_EAGAIN);
  }

  // ---- iteration
  entries(filter) {
    return this._n.foreach(filter);
  }
  keys(filter) {
    return this._n.foreach(filter).map((e) => e.key);
  }
  forEach(fn, filter) {
    for (const e of this._n.foreach(filter)) fn(e);
  }
  *[Symbol.iterator]() {
    for (const e of this._n.foreach({ values: true })) yield [e.key, e.value];
  }

  // ---- vectors
  vecSet(key, vector) {
    this._n.vecSet(key, vector);
  }
  vecGet(key) {
    return this._n.vecGet(key);
  }
  vecClear(key) {
    return this._n.vecClear(key);
  }
  search(query) {
    return this._n.vecSearch({ ...query, metric: metricOf(query.metric) });
  }
  searchAsync(query) {
    return this._n.vecSearchAsync({ ...query, metric: metricOf(query.metric) });
  }

  // ---- signals
  watch(key, groups) {
    this._n.watch(key, mask(groups));
  }
  unwatch(key, groups) {
    this._n.unwatch(key, mask(groups));
  }
  bind(bit, groups) {
    this._n.bind(bit, mask(groups));
  }
  unbind(bit, groups) {
    this._n.unbind(bit, mask(groups));
  }
  bindings(bit) {
    return this._n.bindings(bit);
  }
  bump(key) {
    this._n.bump(key);
  }
  signal(groups) {
    this._n.signal(mask(groups));
  }
  pulses(group) {
    return this._n.pulses(group);
  }
  /** Follow signal groups: an async iterator of events. */
  subscribe(groups) {
    return new Subscription(this, groups);
  }
  /**
   * Watch one key through a group: adds the group to the key's watch mask
   * (spl_watch; the mask stays with the key until unwatch or unset) and
   * returns a subscription that yields that key's events only.
   */
  watchKey(key, group = 0) {
    const sub = new Subscription(this, group, typeof key === 'string' ? key : Buffer.from(key).toString());
    try {
      this.watch(key, group);
    } catch (e) {
      sub.close();
      throw e;
    }
    return sub;
  }
  /**
   * Resolve with the key's new epoch once it moves past `epoch`, or null if
   * the key is (or becomes) absent.  Sleeps in a thread-pool thread.
   */
  waitKey(key, epoch = 0n, { timeout, signal } = {}) {
    if (signal && signal.aborted) return Promise.reject(abortError(signal));
    const cancel = new Int32Array(1);
    const p = this._n.keyWait(key, epoch, timeout === undefined ? -1 : timeout, cancel);
    if (!signal) return p;
    const onAbort = () => {
      cancel[0] = 1;
    };
    signal.addEventListener('abort', onAbort, { once: true });
    return p.finally(() => signal.removeEventListener('abort', onAbort));
  }

  /** Sweep waiter records of processes that died while waiting; returns how many. */
  signalRepair() {
    return this._n.signalRepair();
  }

  // ---- tandem keys: base, base.1, base.2, ... (each member atomic on its own)
  tandemKey(base, i) {
    return this._n.tandemKey(base, i);
  }
  tandemSet(base, values) {
    this._n.tandemSet(base, values);
  }
  tandemGet(base, i) {
    return this._n.tandemGet(base, i);
  }
  tandemCount(base) {
    return this._n.tandemCount(base);
  }
  tandemUnset(base) {
    return this._n.tandemUnset(base);
  }
  tandemVecSet(base, vectors) {
    this._n.tandemVecSet(base, vectors);
  }
  tandemVecGet(base, i) {
    return this._n.tandemVecGet(base, i);
  }

  // ---- prepared keys, batches
  /** Hash key once for this store (spl_key_prep): a PreparedKey. */
  prepare(key) {
    return new PreparedKey(this, this._n.prepare(key), key);
  }
  /** Hash many keys (PreparedKeys or plain keys) at once for the batch
   * calls (getMany, getManyInto, setMany): a KeyBatch. */
  prepareMany(keys) {
    const ks = Array.from(keys, (k) => (k instanceof PreparedKey ? k.key : k));
    return new KeyBatch(this, this._n.prepareMany(ks), ks);
  }
  _prep(k) {
    return k instanceof PreparedKey ? k._n : this._n.prepare(k);
  }
  _prepAll(keys) {
    return keys instanceof KeyBatch ? keys._n : Array.from(keys, (k) => this._prep(k));
  }
  /** The values of keys (PreparedKeys or plain keys) in spl_get_many
   * batches: Buffers, undefined for an absent key.  The Buffers are views
   * into one allocation for the batch (a value kept keeps the batch's bytes
   * alive); values longer than 256 bytes are read again one by one. */
  getMany(keys) {
    const batch = keys instanceof KeyBatch;
    const ks = this._prepAll(keys);
    const n = batch ? keys.length : ks.length;
    const stride = this._stride || (this._stride = Math.max(1, Math.min(256, this.info().valMax)));
    const buf = Buffer.allocUnsafeSlow(n * stride);
    const lens = new Int32Array(n);
    this._n.getManyInto(ks, buf, stride, lens);
    const out = new Array(n);
    for (let i = 0; i < n; i++) {
      const l = lens[i];
      if (l > stride) out[i] = batch ? this.get(keys.keys[i]) : ks[i].get();
      else out[i] = l < 0 ? undefined : buf.subarray(i * stride, i * stride + l);
    }
    return out;
  }
  /** getMany without allocating: value i to buf[i * stride ...], its
   * length to lens[i] (an Int32Array): -1 for an absent key; for a value
   * longer than stride, the length it needs.  Returns the number found. */
  getManyInto(keys, buf, stride, lens) {
    return this._n.getManyInto(this._prepAll(keys), buf, stride, lens);
  }
  /** Write [key, value] pairs (or a Map) in one spl_set_many, or a
   * KeyBatch's keys and one value each (setMany(batch, values)); throws
   * the first failure. */
  setMany(entries, values) {
    if (entries instanceof KeyBatch) {
      this._n.setMany(entries._n, Array.from(values));
      return this;
    }
    const ks = [];
    const vs = [];
    for (const [k, v] of entries) {
      ks.push(this._prep(k));
      vs.push(v);
    }
    this._n.setMany(ks, vs);
    return this;
  }

  /** @internal the benchmark's C loop */
  _benchC(op, dependent, order, value) {
    return this._n.benchC(op, dependent, order, value);
  }
  _benchOrder(random, n, keys) {
    return this._n.benchOrder(random, n, keys);
  }
}

const errors = native.errors;

module.exports = {
  Store,
  PreparedKey,
  KeyBatch,
  Subscription,
  View,
  SplinterError,
  Backing,
  VecFormat,
  Metric,
  errors,
  errorName: native.errName,
  simd: native.simd,
  simdForce: native.simdForce,
  version: native.version,
  GROUPS: 64,
};
module.exports.default = module.exports;
