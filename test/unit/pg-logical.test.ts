/** The logical seed's pure parts: which role statements reach the target, and which client tools dump which major. */
import { describe, expect, it } from 'vitest';
import { filterRoles, findClientTools } from '../../src/engines/postgres/logical/schema.js';
import { PgSession } from '../../src/engines/postgres/session.js';
import { withDirectEndpoints } from '../../src/hosts/endpoint.js';
import { LocalHost } from '../../src/hosts/local.js';
import { readInputs } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';

const DUMP = `--
-- PostgreSQL database cluster dump
--

SET default_transaction_read_only = off;

CREATE ROLE app_writer;
ALTER ROLE app_writer WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:abc';
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;
CREATE ROLE "odd ""name""";
ALTER ROLE "odd ""name""" WITH NOLOGIN;
ALTER ROLE app_writer SET search_path TO 'app';
GRANT app_writer TO "odd ""name""" GRANTED BY postgres;
`;

describe('filterRoles', () => {
  it('leaves out every statement about a role the target has (its admin keeps its own attributes)', () => {
    const { script, created } = filterRoles(DUMP, new Set(['postgres']));
    expect(created).toEqual(['app_writer', 'odd "name"']);
    expect(script.some((l) => /ROLE postgres/.test(l))).toBe(false);
    expect(script).toContain("ALTER ROLE app_writer SET search_path TO 'app';");
    expect(script).toContain('GRANT app_writer TO "odd ""name""" GRANTED BY postgres;');
    expect(script.some((l) => l.startsWith('SET ') || l.startsWith('--'))).toBe(false);
  });
});

describe('findClientTools', () => {
  it('takes tools of the source major or newer (Debian 15 here dumps 13 to 15)', () => {
    expect(findClientTools(13).major).toBeGreaterThanOrEqual(13);
  });
  it('names what is missing when no tools are new enough', () => {
    expect(() => findClientTools(99)).toThrow(
      /no PostgreSQL client tools of major 99 or newer on this runner .*found majors: .*install the client package of PostgreSQL 99/,
    );
  });
});

describe('PgSession.settleFence', () => {
  it('makes every later read of inputs.fence see the settled fence, and leaves the step its own inputs', () => {
    const h = new LocalHost();
    const inputs = readInputs('cutover', (n) => ({ 'source-url': 'postgres://a:pw@127.0.0.1:1/db', 'target-url': 'postgres://a:pw@127.0.0.1:2/db' })[n]);
    const ctx = withDirectEndpoints({ inputs, log: new TextLog(() => undefined), targetHost: h, sourceHost: h, runnerHost: h });
    const s = new PgSession(ctx);
    expect(s.inputs.fence).toBe('shutdown');
    s.settleFence('read-only');
    expect(s.inputs).toMatchObject({ fence: 'read-only', fenceGiven: false, sourceUrl: inputs.sourceUrl });
    expect(ctx.inputs.fence).toBe('shutdown');
  });
});
