import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Store } from '../lib/index.mjs';
import { memStore, shmStore } from './helpers.mjs';

const writer = fileURLToPath(new URL('./fixtures/writer.cjs', import.meta.url));
const child = (...args) => fork(writer, args, { stdio: 'inherit' });
// A child's 'exit' promise, taken as it starts: one taken after another
// await can miss an exit already emitted and never settle (under load the
// event loop then ran dry and the test failed, the ones after it cancelled).
const childExit = (...args) => once(child(...args), 'exit');

test('subscribe: events of watched keys, labels and signals', async (t) => {
  const s = memStore();
  t.after(() => s.close()); // also when an assertion fails: an open subscription keeps the loop alive
  s.set('k', 'v0');
  s.watch('k', 3);
  assert.equal(s.meta('k').watch, 1n << 3n);
  s.bind(5, [2]);
  assert.equal(s.bindings(5), 1n << 2n);
  const sub = s.subscribe([2, 3]);
  const next = async () => {
    const { value } = await sub.next();
    return [value.kind, value.key];
  };
  s.set('k', 'v1');
  s.set('other', 'not watched');
  assert.deepEqual(await next(), ['changed', 'k']);
  s.set('lab', 'x');
  s.setLabels('lab', 1n << 5n);
  assert.deepEqual(await next(), ['changed', 'lab']);
  s.signal(3);
  assert.deepEqual(await next(), ['signal', null]);
  s.bump('k');
  assert.deepEqual(await next(), ['bumped', 'k']);
  s.set('k', 'v2');
  s.unset('k');
  // The change before the delete, read after it: the free slot still
  // names the key it last held (never another key: a slot another key
  // took since reports "unknown").
  assert.deepEqual(await next(), ['changed', 'k']);
  assert.deepEqual(await next(), ['deleted', 'k']);
  assert.ok(sub.seen(3) >= 1n);
  s.set('k2', 'a');
  s.watch('k2', 3);
  s.set('k2', 'b');
  for await (const ev of sub) {
    assert.deepEqual([ev.kind, ev.key], ['changed', 'k2']);
    break; // leaving the loop closes the subscription
  }
  assert.ok(s.pulses(3) >= 3n);
  assert.equal(sub.poll(), null, 'closed by break');
  s.close();
});

test('a subscription wakes on another process\'s write without blocking the loop', async (t) => {
  const { s, name } = shmStore(t);
  s.set('k', 'v0');
  const sub = s.watchKey('k', 7);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const exited = childExit(name, 'after', '150', 'k', 'from child');
  const { value: ev } = await sub.next();
  clearInterval(timer);
  assert.equal(ev.kind, 'changed');
  assert.equal(ev.key, 'k');
  assert.equal(ev.epoch, s.meta('k').epoch);
  assert.equal(s.getString('k'), 'from child');
  assert.ok(ticks >= 5, `the event loop ran while waiting (${ticks} ticks)`);
  sub.close();
  await exited;
});

test('watchKey yields only its key', async () => {
  const s = memStore();
  s.set('a', '1');
  s.set('b', '1');
  s.watch('b', 1);
  const sub = s.watchKey('a', 1);
  s.set('b', '2');
  s.set('a', '2');
  const { value } = await sub.next();
  assert.equal(value.key, 'a');
  sub.close();
  assert.deepEqual(await sub.next(), { value: undefined, done: true });
  s.close();
});

test('a lapped subscriber gets an overflow event', async () => {
  const s = memStore({ feedLen: 16 });
  s.set('k', '0');
  s.watch('k', 0);
  const sub = s.subscribe(0);
  for (let i = 0; i < 100; i++) s.set('k', String(i));
  const { value } = await sub.next();
  assert.equal(value.kind, 'overflow');
  sub.close();
  s.close();
});

test('closing the store ends its subscriptions', async () => {
  const s = memStore();
  const sub = s.subscribe(9);
  const p = sub.next();
  s.close();
  sub.close();
  assert.deepEqual(await p, { value: undefined, done: true });
});

test('an unref()ed subscription lets the process exit', async (t) => {
  const { name } = shmStore(t);
  const p = child(name, 'idle-sub', '4');
  const [code] = await once(p, 'exit');
  assert.equal(code, 0);
});

test('waitKey: a change, a delete, a timeout, an abort', async (t) => {
  const { s, name } = shmStore(t);
  s.set('k', 'v0');
  const e0 = s.meta('k').epoch;
  assert.ok((await s.waitKey('k', 0n)) >= e0, 'an older epoch returns at once');
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  let exited = childExit(name, 'after', '150', 'k', 'v1');
  const e1 = await s.waitKey('k', e0, { timeout: 5000 });
  clearInterval(timer);
  assert.ok(e1 > e0);
  assert.equal(e1, s.meta('k').epoch);
  assert.ok(ticks >= 5, `the event loop ran while waiting (${ticks} ticks)`);
  await exited;
  exited = childExit(name, 'unset', '100', 'k');
  assert.equal(await s.waitKey('k', e1), null);
  await exited;
  assert.equal(await s.waitKey('absent', 0n), null);
  s.set('k', 'again');
  const t0 = Date.now();
  await assert.rejects(s.waitKey('k', s.meta('k').epoch, { timeout: 60 }), { code: 'SPL_ETIMEDOUT' });
  assert.ok(Date.now() - t0 >= 50);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 30);
  await assert.rejects(s.waitKey('k', s.meta('k').epoch, { signal: ac.signal }), { name: 'AbortError' });
  await assert.rejects(s.waitKey('k', 0n, { signal: AbortSignal.abort() }), { name: 'AbortError' });
});

test('contention: retried by default, SPL_EAGAIN on request', async (t) => {
  // A writer stopped (SIGSTOP) in the middle of a write holds its slot: it
  // is alive, so nobody recovers the slot until it runs again.
  const { s, name } = shmStore(t, { valMax: 1 << 20 });
  s.set('k', 'x');
  const p = fork(writer, [name, 'loop', 'k', String(1 << 20)], { stdio: 'inherit' });
  const pExit = once(p, 'exit'); // it ends by itself once stop:k exists (below)
  await once(p, 'message');
  let held = false;
  try {
    for (let i = 0; i < 200 && !held; i++) {
      process.kill(p.pid, 'SIGSTOP');
      await new Promise((r) => setTimeout(r, 2));
      s.retryMs = 0;
      try {
        s.get('k');
      } catch (e) {
        assert.equal(e.code, 'SPL_EAGAIN');
        held = true;
      }
      if (held) {
        assert.throws(() => s.set('k', 'y'), { code: 'SPL_EAGAIN' });
        // the integer ops too, at once (spl_int_try; spl_int would wait 10 s)
        const t1 = performance.now();
        assert.throws(() => s.add('k', 1), { code: 'SPL_EAGAIN' });
        assert.throws(() => s.inc('k'), { code: 'SPL_EAGAIN' });
        assert.throws(() => s.or('k', 1), { code: 'SPL_EAGAIN' });
        const pk = s.prepare('k');
        assert.throws(() => pk.add(1), { code: 'SPL_EAGAIN' });
        // and the calls with no C *_wait variant: a write and reads
        assert.throws(() => s.setLabels('k', 2n), { code: 'SPL_EAGAIN' });
        assert.throws(() => s.meta('k'), { code: 'SPL_EAGAIN' });
        assert.throws(() => s.has('k'), { code: 'SPL_EAGAIN' });
        assert.ok(performance.now() - t1 < 2000, 'the integer ops did not wait');
        s.retryMs = 50;
        const t0 = performance.now();
        assert.throws(() => s.get('k'), { code: 'SPL_EAGAIN' });
        assert.ok(performance.now() - t0 >= 45, 'retried for retryMs');
        // the integer ops wait for retryMs too (spl_int_wait; spl_int
        // waited 10 s, then threw SPL_ETIMEDOUT)
        const t2 = performance.now();
        assert.throws(() => s.add('k', 1), { code: 'SPL_EAGAIN' });
        assert.throws(() => pk.add(1), { code: 'SPL_EAGAIN' });
        const waited = performance.now() - t2;
        assert.ok(waited >= 90 && waited < 2000, `the integer ops waited retryMs each (${waited} ms)`);
        assert.throws(() => s.append('k', 'z'), { code: 'SPL_EAGAIN' });
        assert.equal(s.get('other'), undefined, 'other keys are not held');
        await contendNoWait(s, name, p);
        break; // the writer has ended
      }
      process.kill(p.pid, 'SIGCONT');
      // let it run before the next stop: stopped again at once, a writer on
      // a loaded machine may not run in between and stays where the first
      // stop found it (outside the slot: Go's twin of this test failed so)
      await new Promise((r) => setTimeout(r, 1 + (i % 3)));
    }
  } finally {
    p.kill('SIGKILL');
    await pExit;
  }
  assert.ok(held, 'caught the writer inside the slot');
  s.retryMs = 100;
  // The killed writer's slot is recovered: the last whole value (or the first, 'x').
  const v = s.get('k');
  assert.ok(v.length === 1 << 20 || v.toString() === 'x', `recovered (${v.length} bytes)`);
});

// The calls with no C *_wait variant (a write: setLabels; reads: meta, has)
// on key 'k', held by the stopped writer p, wait as the *_wait calls do
// (spl_retry_pause): for retryMs, then SPL_EAGAIN; with a long retryMs,
// asleep until the writer runs again, then they succeed.  The writer ends
// after its write (its loop sees stop:k).
async function contendNoWait(s, name, p) {
  s.retryMs = 50;
  for (const [what, fn] of [
    ['setLabels', () => s.setLabels('k', 2n)],
    ['meta', () => s.meta('k')],
    ['has', () => s.has('k')],
  ]) {
    const t0 = performance.now();
    assert.throws(fn, { code: 'SPL_EAGAIN' });
    const d = performance.now() - t0;
    assert.ok(d >= 40 && d < 3000, `${what} waited retryMs (${d} ms)`);
  }
  s.set('stop:k', '1');
  s.retryMs = 20000;
  // the reads in another process, the write here (this thread blocks:
  // a shell sends the SIGCONT)
  const reader = fork(writer, [name, 'read', 'k', '20000'], { stdio: 'inherit' });
  const readerExit = once(reader, 'exit');
  await once(reader, 'message');
  const result = once(reader, 'message');
  const tk = Date.now();
  spawn('sh', ['-c', `sleep 0.25; kill -CONT ${p.pid}`], { stdio: 'ignore' });
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  s.setLabels('k', 2n);
  const d = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1000;
  assert.ok(d >= 200 && d < 10000, `setLabels waited for the writer (${d} ms)`);
  assert.ok(cpu < d / 20, `setLabels slept while it waited (${cpu} ms of CPU in ${d} ms)`);
  const [{ err, at }] = await result;
  await readerExit;
  assert.equal(err, null, 'the reads succeeded');
  assert.ok(at >= tk + 200, `the reads waited for the writer (${at - tk} ms)`);
  assert.ok(s.meta('k').labels & 2n, 'the label was set');
}

test('closing the store ends a pending waitKey', async () => {
  const s = memStore();
  s.set('k', 'v');
  const p = s.waitKey('k', s.meta('k').epoch);
  setTimeout(() => s.close(), 20);
  await assert.rejects(p, { code: 'SPL_EINVAL' });
});
