// Shared test helpers: unique store names, memfd stores, cleanup.
import { Store, simd } from '../lib/index.mjs';

/** The skip reason of a test that needs vectors, where the library says it
 * has none (simd() 'none': a WITH_EMBEDDINGS=0 build refuses a store with
 * vectors and every vector call throws SPL_ENOTSUP); false otherwise. */
export const noVectors = simd() === 'none' && 'this build has no vectors (WITH_EMBEDDINGS=0)';

let n = 0;
export const uniqueName = (tag = 's') => `node-test-${process.pid}-${tag}-${n++}`;

/** An anonymous (memfd) store; closed by the caller. */
export const memStore = (opts = {}) => Store.create(null, { backing: 'memfd', slots: 256, vecDim: 0, ...opts });

/** A named shared-memory store destroyed when `t` ends. */
export function shmStore(t, opts = {}) {
  const name = uniqueName();
  const s = Store.create(name, { slots: 256, vecDim: 0, ...opts });
  t.after(() => {
    s.close();
    Store.destroy(name);
  });
  return { s, name };
}
