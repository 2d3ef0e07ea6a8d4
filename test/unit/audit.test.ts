import { describe, expect, it } from 'vitest';
import { auditMarkdown, buildAudit } from '../../src/state/audit.js';
import { newRecord, type MigrationRecord } from '../../src/state/record.js';

/** A record as the steps leave it: tuned, seeded, cut over with an approval, then reverted. */
function record(): MigrationRecord {
  const rec = newRecord('orders-eu', 'postgres', 'postgres://db-old:5432/shop', 'postgres://db-new:5432/shop', new Date('2026-12-01T10:00:00Z'));
  const run = { url: 'https://github.com/acme/shop/actions/runs/7', commit: 'abc123', actor: 'dba-lead', host: 'db-new' };
  rec.events.push(
    { at: '2026-12-01T10:00:01Z', step: 'tune-target', result: 'ok', phase: 'tuned', run },
    { at: '2026-12-01T10:05:00Z', step: 'seed-replica', result: 'ok', phase: 'seeded', run },
    { at: '2026-12-02T09:00:00Z', step: 'cutover', result: 'failed', detail: 'cutover refused: no reviewer approved this run', run: { ...run, actor: 'bot' } },
    { at: '2026-12-02T10:00:00Z', step: 'cutover', result: 'ok', phase: 'promoted', run },
    { at: '2026-12-03T10:00:00Z', step: 'revert', result: 'ok', phase: 'reverted', run },
  );
  rec.tuning = {
    engine: 'postgres',
    memoryBytes: 1,
    cpus: 1,
    items: [
      { name: 'synchronous_commit', original: 'on', value: 'off', reason: '', applies: 'reload', relaxesDurability: true, revertAtCutover: true },
      { name: 'shared_buffers', original: '128MB', value: '4GB', reason: '', applies: 'restart', relaxesDurability: false, revertAtCutover: false },
    ],
  };
  rec.steps['seed-replica'] = { at: '2026-12-01T10:05:00Z', outputs: { 'seed-position': '0/3000000' } };
  rec.steps.cutover = {
    at: '2026-12-02T10:00:00Z',
    outputs: { 'final-position': '0/5000000', 'write-blocked-ms': '120', fence: 'shutdown', 'pooler-held-ms': '150' },
  };
  rec.extra = {
    approval: {
      cutover: {
        step: 'cutover',
        at: '2026-12-02T09:59:00Z',
        requireApproval: true,
        how: 'github-review',
        environment: 'production',
        approvers: [{ login: 'cto', comment: 'CHG-1 | go' }],
        protection: { rules: ['required_reviewers'], reviewers: ['cto'] },
        run,
      },
    },
  };
  return rec;
}

describe('the audit record built from the migration record', () => {
  it('keeps the approval, phases, positions, window and failed attempts', () => {
    const a = buildAudit(record());
    expect(a.approval.cutover?.approvers).toEqual([{ login: 'cto', comment: 'CHG-1 | go' }]);
    expect(a.phases.map((p) => p.phase)).toEqual(['tuned', 'seeded', 'promoted', 'reverted']);
    expect(a.positions).toEqual({ seed: '0/3000000', final: '0/5000000' });
    expect(a.cutover).toMatchObject({ writeBlockedMs: 120, fence: 'shutdown', poolerHeldMs: 150 });
    expect(a.runs.map((r) => r.actor)).toEqual(['dba-lead', 'bot']);
    expect(a.failures).toEqual([{ at: '2026-12-02T09:00:00Z', step: 'cutover', detail: 'cutover refused: no reviewer approved this run' }]);
  });

  it('says who restored each setting: cutover for the catch-up ones, revert for all once it ran', () => {
    const rec = record();
    expect(buildAudit(rec).settings.map((s) => s.restored)).toEqual(['cutover (2026-12-02T10:00:00Z)', 'not yet (revert restores it)']);
    rec.steps.revert = { at: '2026-12-03T10:00:00Z', outputs: {} };
    expect(buildAudit(rec).settings.map((s) => s.restored)).toEqual(['revert (2026-12-03T10:00:00Z)', 'revert (2026-12-03T10:00:00Z)']);
  });

  it('renders a page naming the approver, with table cells escaped, and require-approval when off', () => {
    const md = auditMarkdown(buildAudit(record()));
    expect(md).toMatch(/approved for environment `production` by \*\*cto\*\* \("CHG-1 \\\| go"\)/);
    const rec = record();
    rec.extra!.approval = { cutover: { step: 'cutover', at: 'x', requireApproval: false, how: 'not-required', run: { host: 'h' } } };
    expect(auditMarkdown(buildAudit(rec))).toMatch(/not approved: `require-approval` was false/);
  });
});
