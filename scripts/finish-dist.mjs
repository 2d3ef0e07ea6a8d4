// After ncc: dist/ is an ES module package, and dist/index.js is the executable `zdm`.
// Bundled CommonJS code (ssh2's WASM crypto) still reads __dirname/__filename, which an ES module
// lacks: define them once at the top of the bundle, where every bundled module sees them.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';

writeFileSync('dist/package.json', JSON.stringify({ type: 'module' }, null, 2) + '\n');
const entry = 'dist/index.js';
let code = readFileSync(entry, 'utf8').replace(/^#!.*\n/, '');
const shim =
  "import { fileURLToPath as __zdmFileURLToPath } from 'node:url'; import { dirname as __zdmDirname } from 'node:path'; " +
  'const __filename = __zdmFileURLToPath(import.meta.url); const __dirname = __zdmDirname(__filename);\n';
if (!code.startsWith(shim)) code = shim + code;
writeFileSync(entry, '#!/usr/bin/env node\n' + code);
chmodSync(entry, 0o755);
