// ES module entry point: the same objects as the CommonJS one (index.cjs).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const splinter = require('./index.cjs');

export const {
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
  errorName,
  simd,
  simdForce,
  version,
  GROUPS,
} = splinter;
export default splinter;
