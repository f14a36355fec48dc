'use strict';
// Runs the pinned node-gyp.  Where this Node.js ships its own headers
// (<prefix>/include/node, as distribution packages do), they are used, so
// the build needs no download; otherwise node-gyp fetches them as usual.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const env = { ...process.env };
if (!env.npm_config_nodedir) {
  const prefix = path.dirname(path.dirname(process.execPath));
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix;
}
const gyp = require.resolve('node-gyp/bin/node-gyp.js');
const r = spawnSync(process.execPath, [gyp, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env,
  cwd: path.join(__dirname, '..'),
});
process.exit(r.status === null ? 1 : r.status);
