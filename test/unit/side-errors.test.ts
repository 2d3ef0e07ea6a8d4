/**
 * Errors about one side carry the side and the input and are worded once, at the step: the same
 * fault reads "the source" in cutover and "the new primary" in rollback, and always names the
 * input the user fixes. And a MySQL/MariaDB user is never sent to a PostgreSQL function.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { explainMyError } from '../../src/engines/mysql/connect.js';
import { explainPgError } from '../../src/engines/postgres/connect.js';
import { markFailure, markIfLost } from '../../src/engines/server-lost.js';
import { replicas, type NewPrimaryContext } from '../../src/checks/new-primary.js';
import { describeError, SideError, UserError } from '../../src/errors.js';
import { CUTOVER_NAMES, CUTOVER_SIDES, directEndpoints, forwardedEndpoint, type Endpoint } from '../../src/hosts/endpoint.js';
import { stepError } from '../../src/run-step.js';
import { ROLLBACK_NAMES, ROLLBACK_SIDES } from '../../src/steps/rollback.js';
import { sidesOf } from '../../src/steps/index.js';

const endpoints = (): Endpoint[] => {
  const e = directEndpoints({
    sourceUrl: new URL('postgres://app:pw@db-old.example:6001/app'),
    targetUrl: new URL('postgres://app:pw@db-new.example:6002/app'),
  });
  return [e.source!, e.target];
};

/** A driver's error for a connection that broke, marked by the client with its server (what connect.ts does). */
const lostOn = (input: string, at: string): Error =>
  markIfLost(Object.assign(new Error('Connection terminated unexpectedly'), { code: '57P01' }), { input, at }) as Error;

describe('SideError: the side and the input, worded by the step', () => {
  it("the same error is worded with cutover's and with rollback's names, and names the input either way", () => {
    const e = new SideError('source', 'target-url', (side) => `${side} refused the login (target-url)`);
    expect(e).toBeInstanceOf(UserError);
    expect(e.side).toBe('source');
    expect(e.input).toBe('target-url');
    expect(e.worded(CUTOVER_NAMES)).toBe('the source refused the login (target-url)');
    expect(e.worded(ROLLBACK_NAMES)).toBe('the new primary refused the login (target-url)');
    // Until a step words it, the message is cutover's; describeError takes a step's names.
    expect(e.message).toBe(e.worded(CUTOVER_NAMES));
    expect(describeError(e, ROLLBACK_NAMES)).toBe(e.worded(ROLLBACK_NAMES));
    const back = e.for(ROLLBACK_NAMES);
    expect(back).toBeInstanceOf(SideError);
    expect(back.message).toBe('the new primary refused the login (target-url)');
    expect(back.side).toBe('source');
  });

  it('rollback words a lost server by its own names: target-url is the new primary, source-url the old source', () => {
    const cut = stepError(lostOn('target-url', '127.0.0.1:6002'), 'cutover', endpoints(), 'Fencing the source');
    const back = stepError(lostOn('target-url', '127.0.0.1:6002'), 'rollback', endpoints(), 'Fencing the new primary');
    expect(cut).toBeInstanceOf(SideError);
    expect(describeError(cut)).toMatch(
      /^lost the connection to the target \(target-url, db-new\.example:6002\) during cutover \(Fencing the source\): Connection terminated unexpectedly\. /,
    );
    expect(back).toMatchObject({ side: 'source', input: 'target-url' });
    expect(describeError(back)).toMatch(
      /^lost the connection to the new primary \(target-url, db-new\.example:6002\) during rollback \(Fencing the new primary\): /,
    );
    expect(describeError(stepError(lostOn('source-url', '127.0.0.1:6001'), 'rollback', endpoints(), undefined))).toMatch(
      /^lost the connection to the old source \(source-url, db-old\.example:6001\) during rollback: .* run rollback again/,
    );
    expect(sidesOf('rollback')).toBe(ROLLBACK_SIDES);
    expect(sidesOf('await-lag-zero')).toBe(CUTOVER_SIDES);
  });

  it('a lost server reached through SSH names the tunnel; an input that is no side keeps the plain wording', () => {
    const [source, target] = endpoints();
    const viaSsh = [forwardedEndpoint(source, 40001, 'bastion:22'), target];
    expect(describeError(stepError(lostOn('source-url', '127.0.0.1:40001'), 'await-lag-zero', viaSsh, undefined))).toMatch(
      /^lost the connection to the source \(source-url, db-old\.example:6001 through the SSH connection to bastion:22\) during await-lag-zero: .* or the SSH tunnel between/,
    );
    const other = stepError(lostOn('replication-user/replication-password', '127.0.0.1:6001'), 'preflight', endpoints(), undefined);
    expect(other).not.toBeInstanceOf(SideError);
    expect(describeError(other)).toMatch(/^lost the connection to 127\.0\.0\.1:6001 \(replication-user\/replication-password\) during preflight/);
  });

  it("an unexpected failure of a statement on one side names that side, by the step's names", () => {
    const denied = () =>
      markFailure(Object.assign(new Error('permission denied for function pg_promote'), { code: '42501' }), { input: 'target-url', at: '127.0.0.1:6002' });
    const cut = stepError(denied(), 'cutover', endpoints(), 'Promoting the target');
    expect(cut).toMatchObject({ side: 'target', input: 'target-url' });
    expect(describeError(cut)).toBe(
      'unexpected error on the target (target-url, db-new.example:6002) during cutover (Promoting the target): permission denied for function pg_promote',
    );
    expect(describeError(stepError(denied(), 'rollback', endpoints(), undefined))).toBe(
      'unexpected error on the new primary (target-url, db-new.example:6002) during rollback: permission denied for function pg_promote',
    );
    // An error no client marked keeps its words; a user error is never reworded.
    const bare = new Error('boom');
    expect(stepError(bare, 'cutover', endpoints(), undefined)).toBe(bare);
    const user = markFailure(new UserError('input x is wrong'), { input: 'target-url', at: '127.0.0.1:6002' });
    expect(stepError(user, 'cutover', endpoints(), undefined)).toBe(user);
  });

  it('a server out of reach or refusing the login is a SideError of the side the engine connected to, worded the same in both steps', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6001'), { code: 'ECONNREFUSED' });
    // rollback's engine reaches the old source (source-url) as its target.
    const pg = explainPgError(refused, { input: 'source-url', side: 'target', host: '127.0.0.1', port: 6001, user: 'app' });
    expect(pg).toMatchObject({ side: 'target', input: 'source-url' });
    expect(pg.message).toBe(
      'source-url: cannot reach 127.0.0.1:6001: connection refused. Check the host and port, and that the server is running and listens on that address.',
    );
    expect(describeError(pg, ROLLBACK_NAMES)).toBe(pg.message);
    const denied = Object.assign(new Error("Access denied for user 'app'"), { code: 'ER_ACCESS_DENIED_ERROR' });
    const my = explainMyError(denied, 'target-url', '127.0.0.1:6002', 'app', undefined, 'target');
    expect(my).toBeInstanceOf(SideError);
    expect(my.message).toMatch(/^target-url: access denied for user "app" at 127\.0\.0\.1:6002\./);
    // Without a side (a connection that is no side's, e.g. the replication user's), a plain UserError as before.
    const plain = explainPgError(refused, { input: 'replication-user/replication-password', host: '127.0.0.1', port: 6001, user: 'repl' });
    expect(plain).not.toBeInstanceOf(SideError);
    expect(plain).toBeInstanceOf(UserError);
  });
});

/** The lines of a source file that are code, not comments. */
function codeLines(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l))
    .map((l) => l.replace(/\s\/\/ .*$/, ''));
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('a MySQL/MariaDB message never names PostgreSQL', () => {
  it('no PostgreSQL function, catalog or file in the code of the MySQL engine', () => {
    const found = tsFiles(path.resolve('src/engines/mysql')).flatMap((f) =>
      codeLines(f)
        .filter((l) => /\bpg_[a-z_]+|pg_hba|PostgreSQL/i.test(l))
        .map((l) => `${path.relative('.', f)}: ${l.trim()}`),
    );
    expect(found).toEqual([]);
  });

  it("post-cutover's replicas row sends a MySQL user to replication grants, a PostgreSQL user to pg_hba.conf", async () => {
    const row = async (engine: 'mysql' | 'postgres') => {
      const c = {
        step: { inputs: { engine, expectReplicas: 1 } },
        limits: { known: async () => ({ version: 'x', maxConnections: 100, reservedConnections: 0 }) },
        state: async () => ({ replicas: [], durability: [] }),
      } as unknown as NewPrimaryContext;
      return (await replicas.run(c)) as { status: string; detail: string };
    };
    const my = await row('mysql');
    expect(my.status).toBe('fail');
    expect(my.detail).toContain('replication grants (REPLICATION SLAVE)');
    expect(my.detail).not.toMatch(/pg_/);
    expect((await row('postgres')).detail).toContain("the new primary's pg_hba.conf");
  });
});
