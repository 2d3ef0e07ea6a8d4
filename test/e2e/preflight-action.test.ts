/** The preflight action from the bundle, as the runner runs it: a failed checklist still reaches the job summary. */
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { runDistStep } from './run-dist.js';

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe('preflight action (dist/index.js)', () => {
  it('fails the step with each reason and writes the checklist to the job summary', async () => {
    const [s, t] = [await closedPort(), await closedPort()];
    const r = await runDistStep('preflight', {
      'source-url': `postgres://postgres:hunter2secret@127.0.0.1:${s}/postgres`,
      'target-url': `postgres://postgres:hunter2secret@127.0.0.1:${t}/postgres`,
      'replication-user': 'zdm_repl',
      'replication-password': 'replpw-secret',
      'target-data-dir': '/var/lib/postgresql/15/main',
    });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toContain('::error::preflight failed, nothing was changed: 4 check(s) failed:');
    expect(r.summary).toContain('### zdm preflight');
    expect(r.summary).toContain(`| latency to the source | ❌ fail | cannot open a TCP connection to 127.0.0.1:${s} (connection refused).`);
    expect(r.summary).toContain('| target connection | ❌ fail |');
    // ::add-mask:: lines hand the secrets to the runner, which hides them; nothing else may show them.
    const shown =
      r.stdout
        .split('\n')
        .filter((l) => !l.startsWith('::add-mask::'))
        .join('\n') + r.summary;
    expect(r.stdout).toContain('::add-mask::hunter2secret');
    expect(shown).not.toContain('hunter2secret');
    expect(shown).not.toContain('replpw-secret');
  });
});
