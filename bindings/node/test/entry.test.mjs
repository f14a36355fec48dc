import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as esm from '../lib/index.mjs';
import splinterDefault from '../lib/index.mjs';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));

test('the ES module and CommonJS entry points give the same objects', () => {
  const cjs = require('..');
  assert.equal(esm.Store, cjs.Store);
  assert.equal(esm.SplinterError, cjs.SplinterError);
  assert.equal(splinterDefault.Store, cjs.Store);
  for (const name of Object.keys(cjs)) if (name !== 'default') assert.ok(name in esm, `ESM exports ${name}`);
});

test('package self-reference through "exports"', async () => {
  const viaImport = await import('splinter');
  assert.equal(viaImport.Store, esm.Store);
  assert.equal(require('splinter').Store, esm.Store);
});

const tsc = new URL('../node_modules/typescript/bin/tsc', import.meta.url);
test('index.d.ts type-checks against a program using the API', { skip: !existsSync(tsc) && 'typescript not installed' }, () => {
  const r = spawnSync(process.execPath, [fileURLToPath(tsc), '-p', 'test/tsconfig.json'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
