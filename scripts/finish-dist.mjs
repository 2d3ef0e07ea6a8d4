// After ncc: dist/ is an ES module package, and dist/index.js is the executable `zdm`.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';

writeFileSync('dist/package.json', JSON.stringify({ type: 'module' }, null, 2) + '\n');
const entry = 'dist/index.js';
const code = readFileSync(entry, 'utf8');
if (!code.startsWith('#!')) writeFileSync(entry, '#!/usr/bin/env node\n' + code);
chmodSync(entry, 0o755);
