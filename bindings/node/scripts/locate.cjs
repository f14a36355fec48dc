'use strict';
// Prints what binding.gyp links against: the library built in this source
// tree (../../build/libsplinter.a, made by `make`), or else an installed
// libsplinter found by pkg-config (`make install`).
//   node scripts/locate.cjs include | libs
const fs = require('node:fs');
const path = require('node:path');
const { execSync } = require('node:child_process');

const root = path.resolve(__dirname, '..', '..', '..');
const lib = process.env.SPLINTER_LIB || path.join(root, 'build', 'libsplinter.a');
const inTree = fs.existsSync(lib) && fs.existsSync(path.join(root, 'include', 'splinter.h'));
const what = process.argv[2];

function pkg(flag) {
  try {
    return execSync(`pkg-config ${flag} splinter`, { encoding: 'utf8' }).trim();
  } catch {
    return flag === '--libs' ? '-lsplinter' : '';
  }
}

if (what === 'include') {
  process.stdout.write(inTree ? path.join(root, 'include') : pkg('--cflags-only-I').replace(/^-I/, '') || '/usr/local/include');
} else {
  // SPLINTER_EXTRA_LIBS: what the static library needs beyond these
  // (the Makefile passes -lnuma for a WITH_NUMA=1 build)
  const extra = (process.env.SPLINTER_EXTRA_LIBS || '').trim();
  process.stdout.write((inTree ? `${lib} -lpthread -lm` : `${pkg('--libs')} -lpthread -lm`) + (extra ? ` ${extra}` : ''));
}
