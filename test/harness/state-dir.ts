/**
 * vitest setup (every test file): the migration records of this file's steps go to a directory of
 * its own, never to /var/lib/zdm, so that two files whose servers happen to reuse a port never see
 * each other's record. A test that passes state-dir itself still decides.
 */
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

process.env.ZDM_STATE_DIR = mkdtempSync(path.join(os.tmpdir(), 'zdm-state-'));
