// Type declarations for the Splinter Node.js binding (hand-written; the
// contract behind each call is include/splinter.h in the Splinter sources).
/// <reference types="node" />

/** Symbolic SPL_E* names of the library's error codes. */
export type SplErrorName =
  | 'SPL_OK' | 'SPL_EAGAIN' | 'SPL_ENOENT' | 'SPL_EEXIST' | 'SPL_EINVAL' | 'SPL_ENOMEM'
  | 'SPL_EACCES' | 'SPL_EROFS' | 'SPL_E2BIG' | 'SPL_ENOBUFS' | 'SPL_ETIMEDOUT' | 'SPL_EOVERFLOW'
  | 'SPL_EKEYLEN' | 'SPL_EFULL' | 'SPL_EMAGIC' | 'SPL_EVERSION' | 'SPL_ELAYOUT' | 'SPL_ESIZE'
  | 'SPL_EGEOMETRY' | 'SPL_EINIT' | 'SPL_ECORRUPT' | 'SPL_ETYPE' | 'SPL_ESTALE' | 'SPL_EOWNER'
  | 'SPL_EMODE' | 'SPL_ENOTREG' | 'SPL_ENAME' | 'SPL_EFORMAT' | 'SPL_ENAN' | 'SPL_EDIM'
  | 'SPL_ENOVEC' | 'SPL_ERANGE' | 'SPL_ENOTSUP' | 'SPL_ENODE' | 'SPL_ENOHUGE' | 'SPL_EUNSEALED' | 'SPL_ENOCELL'
  | 'SPL_EABI' | 'SPL_ENOSYM' | 'SPL_ELOAD' | 'SPL_ENOHOST';

/**
 * Every failure of the library is thrown as a SplinterError.  `code` is the
 * SPL_E* name (or "SPL_E?" for an unexpected operating-system error, whose
 * negative errno is in `errno`).  "Not found" is not an error where the
 * JavaScript idiom has an answer for it: get() returns undefined, unset()
 * returns false, and so on.
 */
export class SplinterError extends Error {
  readonly name: 'SplinterError';
  readonly code: SplErrorName | string;
  /** The library's negative code (-errno, or <= -1000 for SPL_E* conditions). */
  readonly errno: number;
  /** The operation: "get", "set", "open", ... */
  readonly op: string;
  /** The key, when the operation had one. */
  readonly key?: string;
}

/** Numeric values of the SPL_E* codes. */
export const errors: Readonly<Record<SplErrorName, number>>;
/** The SPL_E* name of a code ("SPL_E?" if unknown). */
export function errorName(code: number): string;
/** The SIMD path vector search uses: "avx512", "avx2", "sse", "neon" or "scalar". */
export function simd(): string;
/** Use the named SIMD path from now on (SPL_ENOTSUP if this CPU cannot run it). */
export function simdForce(name: string): void;
/** The library's version, "0.1.0". */
export const version: string;
/** Number of signal groups (64). */
export const GROUPS: 64;

export type BackingName = 'auto' | 'shm' | 'file' | 'memfd';
export const Backing: Readonly<{ auto: 0; shm: 1; file: 2; memfd: 3 }>;
export type VecFormatName = 'f32' | 'f16' | 'i8';
export const VecFormat: Readonly<{ f32: 0; f16: 1; i8: 2 }>;
export type MetricName = 'cosine' | 'dot' | 'l2';
export const Metric: Readonly<{ cosine: 0; dot: 1; l2: 2 }>;
/** NUMA memory policy of a new store (docs/PLACEMENT.md). */
export type NumaModeName = 'default' | 'bind' | 'interleave' | 'preferred' | 'local';
export type TypeName = 'void' | 'int64' | 'uint64' | 'json' | 'binary' | 'image' | 'audio' | 'text';

/** Options for opening or creating a store. Geometry fields apply to create. */
export interface StoreOptions {
  /** Where the store lives; default "auto" (a name with '/' is a file, else shared memory). */
  backing?: BackingName | number;
  /** Map read-only: mutations throw SPL_EROFS. */
  readOnly?: boolean;
  /** Create 0660 / accept a group-shared store. */
  group?: boolean;
  /** Open: do not wait for a store that another process is still creating. */
  noCreatorWait?: boolean;
  /** Create: file mode (default 0o600). */
  mode?: number;
  /** Create: slot count (exact capacity in keys). Default 1024. */
  slots?: number;
  /** Create: longest key in bytes. Default 64. */
  keyMax?: number;
  /** Create: largest value in bytes. Default 4096. */
  valMax?: number;
  /** Create: floats per vector (0 = no vectors). Default 768 in embeddings builds. */
  vecDim?: number;
  /** Create: change-feed entries (a power of two). Default 1024. */
  feedLen?: number;
  /** Create: how vectors are kept. Default "f32". */
  vecFormat?: VecFormatName | number;
  /** Create: tandem key separator. Default ".". */
  tandemSep?: string;
  /**
   * Vector cells, 1..slots (keys that can hold a vector at once); default 0 =
   * one per slot.  Once every cell holds one, vecSet on a key without a
   * vector throws SPL_ENOCELL.  openOrCreate: 0 takes the store's; another
   * count than the store's throws SPL_EGEOMETRY (open ignores it).
   */
  vecCells?: number;
  /**
   * Create: NUMA memory policy (a WITH_NUMA=1 build; elsewhere any mode but
   * "default" throws SPL_ENOTSUP).  A node that does not exist or is not
   * allowed throws SPL_ENODE; nodes that do not fit the mode, SPL_EINVAL.
   */
  numaMode?: NumaModeName;
  /** Create: nodes (0..63) for "bind" and "interleave" (one or more), "preferred" (exactly one). */
  numaNodes?: number[];
  /**
   * Create: huge pages.  true: the system's default huge page size; or a
   * huge page size in bytes (a power of two >= 64 KiB).  A memfd store uses
   * MFD_HUGETLB; a shm or file store must be on hugetlbfs.  None free (or
   * not on hugetlbfs) throws SPL_ENOHUGE.
   */
  hugePages?: boolean | number;
  /**
   * Contention: how long (ms) a call waits while a writer holds the slot
   * it needs, before throwing SPL_EAGAIN: asleep on the slot until its
   * writer commits (the *_wait calls, or spl_retry_pause for the calls
   * without one), blocking the JS thread (searchAsync: a pool thread).
   * Default 100.  0 throws
   * SPL_EAGAIN at once (the library's raw behaviour).  Also settable as
   * store.retryMs.
   */
  retryMs?: number;
}

export interface StoreInfo {
  slots: number;
  keyMax: number;
  valMax: number;
  vecDim: number;
  backing: BackingName;
  probeMax: number;
  slotStride: number;
  regionBytes: number;
  used: number;
  load: number;
  recoveries: number;
  changes: bigint;
  probeLongest: number;
  probeMean: number;
  embeddings: boolean;
  readOnly: boolean;
  cellStride: number;
  cellsHigh: number;
  capacity: number;
  free: number;
  indexWords: number;
  undoRecs: number;
  /** Page size of the mapping: the huge page size on hugetlbfs, else the base page. */
  pageBytes: number;
  /** Nodes of numaMode's policy, ascending. */
  numaNodes: number[];
  /** This process's mapping's memory policy; null where unknown (a build without NUMA). */
  numaMode: NumaModeName | null;
  /** Pages sampled for numaPages (0 in a build without NUMA). */
  numaSampled: number;
  /** Of those, pages not in memory (never written, or swapped out). */
  numaAbsent: number;
  /** Of those, pages on node n (64 entries, index = node). */
  numaPages: number[];
  /** Names this store (fixed at creation, never 0n): equal for two handles of one store. */
  storeId: bigint;
  /** Vector cells of the store (0: no vectors). */
  cells: number;
  /** Of those, cells holding a vector now. */
  cellsUsed: number;
  /** Bytes of the region in memory (a new store is sparse), against regionBytes mapped. */
  residentBytes: number;
}

/** A consistent snapshot of a key's metadata (spl_meta_get). */
export interface Meta {
  /** Even; moves forward on every change.  The token for cas() and waitKey(). */
  epoch: bigint;
  labels: bigint;
  ctimeNs: bigint;
  mtimeNs: bigint;
  atimeNs: bigint;
  /** Value length in bytes. */
  size: number;
  slot: number;
  type: TypeName;
  flags: number;
  /** Signal groups watching this key. */
  watch: bigint;
}

/** Filter for entries()/keys()/forEach() (spl_filter). */
export interface Filter {
  /** Key prefix. */
  prefix?: string;
  /** fnmatch(3) pattern over the whole key. */
  glob?: string;
  /** Label mask: keys carrying all these bits (any, with labelsAny). 0n = any. */
  labels?: bigint;
  labelsAny?: boolean;
  /** Copy values into the entries. */
  values?: boolean;
}

export interface Entry {
  key: string;
  /** Present when the filter asked for values. */
  value?: Buffer;
  meta: Meta;
}

export interface SearchQuery {
  /** The query vector (vecDim floats)... */
  vector?: Float32Array | number[];
  /** ...or the key of a stored vector. */
  key?: string;
  /** Results wanted, 1..4096.  Default 10. */
  k?: number;
  /** Default "cosine" (higher first); "dot" (higher first); "l2" (lower first). */
  metric?: MetricName | number;
  labels?: bigint;
  labelsAny?: boolean;
  prefix?: string;
  /** Query by key: leave that key out. */
  skipSelf?: boolean;
  /** Split the scan over this many threads (at most 64). */
  threads?: number;
  /**
   * Approximate: answered by the store's running ANN index (the hnsw
   * fragment, `splinterctl insmod hnsw`) when there is one that keeps up,
   * else by the exact scan; the result's `approximate` says which answered.
   */
  ann?: boolean;
  /** With `ann`: candidates the index keeps (0 = its default; raised to k). */
  ef?: number;
}

export interface SearchHit {
  key: string;
  score: number;
  slot: number;
  epoch: bigint;
}

export interface SearchResult {
  /** Best first; ties by key bytes ascending. */
  hits: SearchHit[];
  /** Vectors scored. */
  scanned: number;
  /** Vectors skipped because they kept changing during the scan. */
  skipped: number;
  /** An ANN index answered (`ann`): some of the exact top-k may be missing. */
  approximate: boolean;
}

/**
 * A zero-copy view of a value where it lies in shared memory.  The bytes
 * can change under the reader at any moment (another process may write the
 * key): read what you need, then call valid().  Only if it returns true did
 * every byte read since view() belong to the value at `epoch`; otherwise
 * discard what was read and take a new view.  Never write into a view: it
 * is the store's memory (and a read-only store's mapping faults on write).
 * After store.close() the view is detached (zero length).
 */
export class View {
  /** An external ArrayBuffer over the value in the mapping. */
  readonly buffer: ArrayBuffer;
  /** `buffer` as bytes. */
  readonly bytes: Uint8Array;
  readonly epoch: bigint;
  readonly slot: number;
  readonly type: TypeName;
  readonly length: number;
  /** True while the slot still holds the value the view was taken at. */
  valid(): boolean;
}

export type EventKind = 'changed' | 'deleted' | 'bumped' | 'signal' | 'unknown' | 'overflow';

/**
 * One change that pulsed a subscribed group.  kind "overflow": events were
 * lost (the change feed lapped this reader); rescan with entries().
 * kind "unknown": the slot has moved on and the key is no longer known.
 */
export interface SplEvent {
  kind: EventKind;
  /** null for "signal", "unknown"; absent for "overflow". */
  key?: string | null;
  seq?: bigint;
  epoch?: bigint;
  groups?: bigint;
  /** -1 when no slot (a signal). */
  slot?: number;
}

/** Groups: a bigint mask, one group number (0..63) or an array of them. */
export type Groups = bigint | number | number[];

/**
 * A subscription to signal groups, as an async iterator of events.  It is
 * driven by libuv polling the subscription's descriptor: waiting costs no
 * CPU and never blocks the event loop.  While a for-await loop waits, the
 * subscription keeps the process alive (like a server socket) unless
 * unref() was called.  Leaving the loop (break, return, throw) closes it.
 */
export class Subscription implements AsyncIterableIterator<SplEvent> {
  next(): Promise<IteratorResult<SplEvent, undefined>>;
  return(): Promise<IteratorResult<SplEvent, undefined>>;
  [Symbol.asyncIterator](): this;
  /** The next event already in the feed, or null (never waits). */
  poll(): SplEvent | null;
  /**
   * The group's pulse counter as this subscription has taken it in (on each
   * wake-up and on this call): the difference of two readings is the number
   * of pulses of the group in between, across all processes.
   */
  seen(group: number): bigint;
  /** Do not keep the process alive while waiting. */
  unref(): this;
  ref(): this;
  close(): void;
}

export interface WaitOptions {
  /** Milliseconds; on expiry the promise rejects with SPL_ETIMEDOUT.  Default: no limit. */
  timeout?: number;
  /** Abort the wait (rejects with an AbortError, seen within 100 ms). */
  signal?: AbortSignal;
}

/** Anything that is bytes, or a string (stored as UTF-8). */
export type Value = string | ArrayBufferView | ArrayBuffer;
/** A key: a string (UTF-8) or its bytes. */
export type Key = string | Uint8Array;

export class Store {
  /** Create a new store; name: a plain name (shm), a path (file), or null (memfd). */
  static create(name: string | null, options?: StoreOptions): Store;
  /** Open an existing store. */
  static open(name: string, options?: StoreOptions): Store;
  /** Open, or create with the given geometry if absent. */
  static openOrCreate(name: string, options?: StoreOptions): Store;
  /** Attach to a store by file descriptor (a memfd passed from another process). */
  static openFd(fd: number, options?: Pick<StoreOptions, 'readOnly' | 'retryMs'>): Store;
  /** Unlink a named store; false if it did not exist.  Open handles stay valid. */
  static destroy(name: string, options?: Pick<StoreOptions, 'backing'>): boolean;

  /** See StoreOptions.retryMs. */
  retryMs: number;
  readonly closed: boolean;
  /** Unmap the store; views are detached and subscriptions end. Idempotent. */
  close(): void;
  [Symbol.dispose](): void;
  info(): StoreInfo;
  /** msync (file-backed stores). */
  flush(): void;
  /** The store's file descriptor (to pass a memfd store to another process). */
  readonly fd: number;

  /** A copy of the value, or undefined if the key is absent. */
  get(key: Key): Buffer | undefined;
  /** get() decoded as UTF-8. */
  getString(key: Key): string | undefined;
  /**
   * Copy the value into `target`; returns its length, or undefined if the
   * key is absent.  Too small a target throws SPL_ENOBUFS with `.needed`.
   */
  getInto(key: Key, target: ArrayBufferView): number | undefined;
  set(key: Key, value: Value): this;
  has(key: Key): boolean;
  /** Delete; false if the key was absent. */
  unset(key: Key): boolean;
  /** Same as unset (Map-style). */
  delete(key: Key): boolean;
  /** Append to the value, creating it if absent (SPL_E2BIG beyond valMax). */
  append(key: Key, data: Value): this;
  /**
   * Write only if the key's epoch is still `expectedEpoch` (from meta() or a
   * view); 0n means "create only if absent".  False when that did not hold.
   */
  cas(key: Key, expectedEpoch: bigint, value: Value): boolean;

  /**
   * Add to a 64-bit integer value in place (created as int64 0 if absent); returns the new value.
   * A busy slot is waited for up to retryMs (spl_int_wait), then SPL_EAGAIN
   * is thrown, nothing changed; with retryMs 0, at once.
   * inc, dec, and, or, xor, not likewise.
   */
  add(key: Key, delta?: bigint | number): bigint;
  inc(key: Key): bigint;
  dec(key: Key): bigint;
  and(key: Key, operand: bigint | number): bigint;
  or(key: Key, operand: bigint | number): bigint;
  xor(key: Key, operand: bigint | number): bigint;
  not(key: Key): bigint;
  /** An 8-byte value as a signed 64-bit integer (SPL_ETYPE if not 8 bytes). */
  getInt(key: Key): bigint | undefined;

  /** Metadata, or undefined if the key is absent. */
  meta(key: Key): Meta | undefined;
  setType(key: Key, type: TypeName | number): void;
  setFlags(key: Key, flags: number): void;
  /** OR bits into the key's labels. */
  setLabels(key: Key, mask: bigint): void;
  /** AND bits out of the key's labels. */
  clearLabels(key: Key, mask: bigint): void;
  /** atime = now. */
  touch(key: Key): void;

  /** A zero-copy view of the value (see View), or undefined if absent. */
  view(key: Key): View | undefined;
  /**
   * Run fn over the value in place until it has read one consistent value
   * (view + fn + valid, retried); returns fn's result, or undefined if the
   * key is absent.  fn may run more than once and must not keep `bytes`.
   */
  readWith<T>(key: Key, fn: (bytes: Uint8Array, view: View) => T, tries?: number): T | undefined;

  /** Every live key matching the filter, each read consistently. */
  entries(filter?: Filter): Entry[];
  keys(filter?: Filter): string[];
  forEach(fn: (entry: Entry) => void, filter?: Filter): void;
  [Symbol.iterator](): IterableIterator<[string, Buffer]>;

  /** Store a vector (vecDim floats) under key, creating the key if absent. */
  vecSet(key: Key, vector: Float32Array | number[]): void;
  /** The key's vector, or undefined if the key is absent or holds none. */
  vecGet(key: Key): Float32Array | undefined;
  /** Remove the key's vector; false if there was none. */
  vecClear(key: Key): boolean;
  /** Top-k search on the calling thread: exact, or approximate with `ann`. */
  search(query: SearchQuery): SearchResult;
  /** The same search in the libuv thread pool. */
  searchAsync(query: SearchQuery): Promise<SearchResult>;

  /** Add groups to the key's watch mask (its changes pulse them). */
  watch(key: Key, groups: Groups): void;
  unwatch(key: Key, groups: Groups): void;
  /** Keys carrying label bit `bit` (0..63) pulse `groups`. */
  bind(bit: number, groups: Groups): void;
  unbind(bit: number, groups: Groups): void;
  /** The groups label bit `bit` pulses. */
  bindings(bit: number): bigint;
  /** Pulse the key's groups without writing it. */
  bump(key: Key): void;
  /** Pulse groups directly. */
  signal(groups: Groups): void;
  /** A group's pulse counter. */
  pulses(group: number): bigint;
  /** Follow groups: `for await (const ev of store.subscribe(3)) ...` */
  subscribe(groups: Groups): Subscription;
  /**
   * Watch one key: adds `group` to its watch mask (it stays there until
   * unwatch() or the key is deleted) and subscribes to that group, yielding
   * this key's events only.
   */
  watchKey(key: Key, group?: number): Subscription;
  /**
   * Resolves with the key's new epoch once it moves past `epoch` (pass the
   * epoch last seen, from meta()), or null if the key is or becomes absent.
   * The wait sleeps in a libuv pool thread (spl_key_wait), not on the loop.
   */
  waitKey(key: Key, epoch?: bigint, options?: WaitOptions): Promise<bigint | null>;
  /** Sweep waiter records of processes that died while waiting; returns how many. */
  signalRepair(): number;

  /**
   * Tandem keys: an ordered group base, base.1, base.2, ... (the separator
   * is the store's tandemSep).  Each member is written atomically on its
   * own; the group is not atomic (see include/splinter.h).
   */
  tandemKey(base: Key, i: number): string;
  /** Write the group (members 1..n-1, then the base), deleting surplus members. */
  tandemSet(base: Key, values: Value[]): void;
  tandemGet(base: Key, i: number): Buffer | undefined;
  /** Members present: base, base.1, ... up to the first absent one. */
  tandemCount(base: Key): number;
  /** Delete every member; returns how many were deleted. */
  tandemUnset(base: Key): number;
  /** Vectors as a group: one Float32Array of n * vecDim floats, or n vectors. */
  tandemVecSet(base: Key, vectors: Float32Array | Array<Float32Array | number[]>): void;
  tandemVecGet(base: Key, i: number): Float32Array | undefined;

  // ---- prepared keys, batches
  /** Measure and hash key once for this store (spl_key_prep); SPL_EKEYLEN past keyMax. */
  prepare(key: Key): PreparedKey;
  /**
   * Measure and hash many keys at once for the batch calls: a KeyBatch,
   * handed to getMany, getManyInto and setMany as one object (an array of
   * PreparedKeys costs a native step per key).  SPL_EKEYLEN past keyMax.
   */
  prepareMany(keys: Iterable<PreparedKey | Key>): KeyBatch;
  /**
   * The values of keys in spl_get_many batches (the lookups overlapped),
   * in order; undefined for an absent key.  Plain keys are prepared first.
   * The Buffers are views into one allocation for the whole batch.
   * Throws the first failure: SPL_EINVAL for a key prepared for another store.
   */
  getMany(keys: Iterable<PreparedKey | Key> | KeyBatch): (Buffer | undefined)[];
  /**
   * getMany without allocating: value i goes to buf[i * stride ...], its
   * length to lens[i]: -1 for an absent key and, for a value longer than
   * stride, the length it needs.  Returns the number of keys found.
   * SPL_EINVAL if buf holds fewer than keys x stride bytes or lens fewer
   * entries than keys; throws the first other failure like getMany.
   */
  getManyInto(keys: Iterable<PreparedKey | Key> | KeyBatch, buf: Uint8Array, stride: number, lens: Int32Array): number;
  /** Write [key, value] pairs (or a Map) in one spl_set_many; each write is atomic on its own. */
  setMany(entries: Iterable<readonly [PreparedKey | Key, Value]>): this;
  /** Write a KeyBatch's keys, one value each, in one spl_set_many. */
  setMany(batch: KeyBatch, values: Iterable<Value>): this;
}

/**
 * Keys measured and hashed once for one store (Store.prepareMany), for
 * getMany, getManyInto and setMany.  It holds its own copy of the keys'
 * bytes; another store's batch calls refuse it with SPL_EINVAL.
 */
export class KeyBatch {
  /** The keys, in order (a PreparedKey given to prepareMany as its key). */
  readonly keys: readonly Key[];
  readonly length: number;
  readonly store: Store;
}

/**
 * A key measured and hashed once for one store (Store.prepare): its calls
 * skip the hashing.  It holds its own copy of the key's bytes and works only
 * with its store (after store.close() its calls throw SPL_EINVAL); another
 * store's getMany/setMany refuse it with SPL_EINVAL.
 */
export class PreparedKey {
  readonly key: Key;
  readonly store: Store;
  get(): Buffer | undefined;
  getString(): string | undefined;
  set(value: Value): this;
  /** true if the key was there. */
  unset(): boolean;
  /** Add to an int64 value (a missing key starts at 0); the new value.  Contention as Store.add. */
  add(delta?: bigint | number): bigint;
}

declare const splinter: {
  Store: typeof Store;
  PreparedKey: typeof PreparedKey;
  KeyBatch: typeof KeyBatch;
  Subscription: typeof Subscription;
  View: typeof View;
  SplinterError: typeof SplinterError;
  Backing: typeof Backing;
  VecFormat: typeof VecFormat;
  Metric: typeof Metric;
  errors: typeof errors;
  errorName: typeof errorName;
  simd: typeof simd;
  simdForce: typeof simdForce;
  version: typeof version;
  GROUPS: typeof GROUPS;
};
export default splinter;
