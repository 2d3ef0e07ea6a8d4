/**
 * The audit record after a whole rehearsal (in-process, small data): it parses as JSON, carries
 * both servers' identities, both positions, the write-blocked window and verify's digest, and no
 * secret that any step of the rehearsal was given.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { secretValues } from '../../src/inputs.js';
import type { AuditRecord } from '../../src/state/audit.js';

/** Every secret any step of the rehearsal was given (URLs with passwords, the passwords themselves). */
const secrets = new Set<string>();
vi.mock('../../src/run-step.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/run-step.js')>();
  return {
    ...real,
    runStep: ((step, raw, log, overrides) => {
      for (const s of secretValues(step, raw)) secrets.add(s);
      return real.runStep(step, raw, log, overrides);
    }) as typeof real.runStep,
  };
});
const { rehearse } = await import('../../src/rehearse/rehearsal.js');
const { TextLog } = await import('../../src/log.js');

describe('the audit record of a rehearsal', () => {
  it.each(['postgres', 'mariadb'] as const)(
    '%s: identities, positions, window, verify digest, and no secret',
    async (engine) => {
      secrets.clear();
      const lines: string[] = [];
      const report = await rehearse(
        { engine, sizeMb: 2, writesPerSecond: 50, fence: 'auto', targetMemory: '512MB', keep: false, verify: 'online', durable: false },
        new TextLog((l) => lines.push(l)),
      );
      if (!report.ok) throw new Error(`${report.error}\n${lines.slice(-30).join('\n')}`);
      const text = readFileSync(report.audit!.path, 'utf8');
      const a = JSON.parse(text) as AuditRecord;
      expect(a.kind).toBe('zdm-audit-record');
      const idName = engine === 'postgres' ? 'system_identifier' : 'server_id';
      for (const side of ['source', 'target'] as const) {
        expect(a.servers[side], side).toMatchObject({ idName, id: expect.stringMatching(/^\d+$/), version: expect.stringMatching(/^\d+\.\d+/) });
        expect(a.servers[side]!.host, side).toMatch(/:\d+$/);
      }
      // A physical PostgreSQL copy keeps the source's system identifier; MariaDB servers keep their own server_id.
      if (engine === 'postgres') expect(a.servers.target!.id).toBe(a.servers.source!.id);
      else expect(a.servers.target!.id).not.toBe(a.servers.source!.id);
      expect(a.positions.seed).toBeTruthy();
      expect(a.positions.final).toBeTruthy();
      expect(a.cutover!.writeBlockedMs).toBe(Number(report.outputs.cutover['write-blocked-ms']));
      expect(a.verify).toMatchObject({ ok: true, mismatches: 0, checksums: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } });
      expect(a.verify!.rowsCompared).toBeGreaterThan(0);
      expect(a.verify!.checksums.chunks).toBeGreaterThan(0);
      expect(a.approval.cutover).toMatchObject({ how: 'not-required', requireApproval: false });
      expect(a.phases.map((p) => p.phase)).toEqual(expect.arrayContaining(['tuned', 'seeded', 'caught-up', 'promoted']));
      expect(a.dataLocation.declared).toMatch(/rehearsal/);
      expect(a.dataLocation.observedTargetHost!.hostname).toBeTruthy();
      expect(a.settings.length).toBeGreaterThan(0);
      expect(report.outputs.cutover['audit-record']).toBe(report.audit!.path);
      // The report prints the record at its end.
      const { formatReport } = await import('../../src/rehearse/rehearsal.js');
      expect(formatReport(report)).toMatch(/audit record: .*\.audit\.json\n\n### zdm audit record/);
      // No secret in the JSON, the Markdown page, or the migration record it was built from.
      expect(secrets.size).toBeGreaterThan(2);
      const md = readFileSync(report.audit!.path.replace(/\.json$/, '.md'), 'utf8');
      const rec = readFileSync(report.audit!.path.replace(/\.audit\.json$/, '.json'), 'utf8');
      for (const s of secrets) {
        for (const [name, t] of [
          ['audit json', text],
          ['audit md', md],
          ['migration record', rec],
        ])
          expect(t.includes(s), `${name} holds a secret of ${s.length} chars`).toBe(false);
      }
    },
    300_000,
  );
});
