import type { RunOptions } from '../../src/hosts/host.js';
import { LocalHost } from '../../src/hosts/local.js';

/** This machine as an account that is not root and has no sudo: every command runs as `nobody`. */
export class UnprivilegedHost extends LocalHost {
  override run(argv: string[], opts: RunOptions = {}) {
    return super.run(argv, { ...opts, user: 'nobody' });
  }
}
