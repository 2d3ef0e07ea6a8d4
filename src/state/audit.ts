/**
 * The audit record: what a migration did, for the people who must show afterwards who decided,
 * when it happened, that nothing was lost, and where the data now lives. Built from the migration
 * record (record.ts: events, outputs, tuning, and the parts kept in `extra` by the approval gate,
 * verify and the observation of the servers), written beside it as `<id>.audit.json` and
 * `<id>.audit.md` by every step that changes something, and shown in the step's job summary.
 * Like the migration record it holds no secret: URLs without credentials, the steps' own outputs,
 * server identifiers and versions.
 */
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import type { ServerIdentity } from '../engines/engine.js';
import type { ApprovalEvidence } from '../github/approval.js';
import type { MigrationRecord, Phase, RecordStore } from './record.js';

export const AUDIT_VERSION = 1;

/** What zdm saw of the servers and the target host while a step ran (kept in the record as `extra.servers`). */
export interface ObservedServers {
  source?: ServerIdentity & { at: string };
  target?: ServerIdentity & { at: string };
  /** The machine the target's steps run on (the runner, which zdm treats as the target host). */
  targetHost?: { hostname: string; addresses: string[]; at: string };
  /** The `data-location` input, as last given. */
  dataLocation?: string;
}

export interface VerifyEvidence {
  at: string;
  mode: string;
  ok: boolean;
  tables: number;
  rowsCompared: number;
  mismatches: number;
  checksums: { chunks: number; sha256: string };
}

export interface AuditSetting {
  scope: 'engine' | 'kernel';
  name: string;
  original: string | null;
  changedTo: string;
  /** Who put the original back, when: `cutover (2026-…)`, `revert (…)`, `abort (…)`, or `not yet`. */
  restored: string;
}

export interface AuditSwitch {
  at?: string;
  writeBlockedMs?: number;
  fence?: string;
  finalPosition?: string;
  poolerHeldMs?: number;
  writesAfterFence?: string;
}

export interface AuditRecord {
  kind: 'zdm-audit-record';
  version: typeof AUDIT_VERSION;
  migration: string;
  engine: string;
  method?: string;
  source?: string;
  target: string;
  writtenAt: string;
  phase?: Phase;
  /** How each switch was allowed: the approvers and their comments, or require-approval off. */
  approval: Partial<Record<'cutover' | 'rollback', ApprovalEvidence>>;
  /** The runs that did the steps: URL, commit, actor (Actions) or host (CLI), with their steps. */
  runs: { url?: string; commit?: string; actor?: string; host: string; steps: string[] }[];
  /** Each phase the migration entered, with its time. */
  phases: { phase: Phase; at: string; step: string }[];
  servers: { source?: ServerIdentity & { at: string }; target?: ServerIdentity & { at: string } };
  positions: { seed?: string; final?: string; reverse?: string; rollbackFinal?: string };
  cutover?: AuditSwitch;
  rollback?: AuditSwitch;
  verify?: VerifyEvidence;
  settings: AuditSetting[];
  dataLocation: { declared?: string; observedTargetHost?: ObservedServers['targetHost'] };
  /** Steps that failed, with their masked one-line error. */
  failures: { at: string; step: string; detail?: string }[];
}

/** The names and non-loopback addresses of this machine, as zdm observes the target host. */
export function observeHost(now = new Date()): NonNullable<ObservedServers['targetHost']> {
  const addresses = Object.values(os.networkInterfaces())
    .flat()
    .filter((a) => a && !a.internal)
    .map((a) => a!.address);
  return { hostname: os.hostname(), addresses: [...new Set(addresses)], at: now.toISOString() };
}

const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));
const nonEmpty = (v: string | undefined) => (v ? v : undefined);

export function buildAudit(rec: MigrationRecord, now = new Date()): AuditRecord {
  const extra = rec.extra ?? {};
  const observed = (extra.servers ?? {}) as ObservedServers;
  const out = (step: string) => rec.steps[step]?.outputs ?? {};
  const okAt = (step: string) => rec.steps[step]?.at;
  const runs = new Map<string, AuditRecord['runs'][number]>();
  for (const e of rec.events) {
    if (!e.run) continue;
    const key = `${e.run.url ?? ''}|${e.run.commit ?? ''}|${e.run.actor ?? ''}|${e.run.host}`;
    const r = runs.get(key) ?? { ...e.run, steps: [] };
    if (!r.steps.includes(e.step)) r.steps.push(e.step);
    runs.set(key, r);
  }
  const switchOf = (step: 'cutover' | 'rollback'): AuditSwitch | undefined => {
    const o = out(step);
    if (!okAt(step)) return undefined;
    return {
      at: okAt(step),
      writeBlockedMs: num(o['write-blocked-ms']),
      fence: nonEmpty(o.fence),
      finalPosition: nonEmpty(o['final-position']),
      poolerHeldMs: num(o['pooler-held-ms']),
      writesAfterFence: nonEmpty(o['writes-after-fence']),
    };
  };
  return {
    kind: 'zdm-audit-record',
    version: AUDIT_VERSION,
    migration: rec.id,
    engine: rec.engine,
    method: rec.method,
    source: rec.source,
    target: rec.target,
    writtenAt: now.toISOString(),
    phase: rec.phase,
    approval: (extra.approval ?? {}) as AuditRecord['approval'],
    runs: [...runs.values()],
    phases: rec.events.filter((e) => e.phase).map((e) => ({ phase: e.phase!, at: e.at, step: e.step })),
    servers: { source: observed.source, target: observed.target },
    positions: {
      seed: nonEmpty(out('seed-replica')['seed-position']),
      final: nonEmpty(out('cutover')['final-position']),
      reverse: nonEmpty(out('cutover')['reverse-position']),
      rollbackFinal: nonEmpty(out('rollback')['final-position']),
    },
    cutover: switchOf('cutover'),
    rollback: switchOf('rollback'),
    verify: extra.verify as VerifyEvidence | undefined,
    settings: settingsOf(rec),
    dataLocation: { declared: observed.dataLocation, observedTargetHost: observed.targetHost },
    failures: rec.events.filter((e) => e.result === 'failed').map((e) => ({ at: e.at, step: e.step, detail: e.detail })),
  };
}

/** Every setting tune-target changed, and when (or whether) its original came back. */
function settingsOf(rec: MigrationRecord): AuditSetting[] {
  const plan = rec.tuning;
  if (!plan) return [];
  const revertAt = rec.steps.revert?.at;
  const abortAt = rec.steps.abort?.at;
  const cutoverAt = rec.steps.cutover?.at;
  const all = revertAt ? `revert (${revertAt})` : abortAt ? `abort (${abortAt})` : undefined;
  const engine = plan.items.map((i) => ({
    scope: 'engine' as const,
    name: i.name,
    original: i.original,
    changedTo: i.value,
    restored: all ?? (cutoverAt && (i.revertAtCutover || i.relaxesDurability) ? `cutover (${cutoverAt})` : 'not yet (revert restores it)'),
  }));
  const kernel = (plan.kernel?.items ?? [])
    .filter((k) => k.applied)
    .map((k) => ({ scope: 'kernel' as const, name: k.key, original: k.original, changedTo: k.value, restored: all ?? 'not yet (revert restores it)' }));
  return [...engine, ...kernel];
}

const cell = (t: unknown) =>
  String(t ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');
const code = (t: unknown) => (t === undefined || t === '' ? '–' : `\`${cell(t)}\``);

/** The audit record as a page for the job summary. */
export function auditMarkdown(a: AuditRecord, path?: string): string {
  const lines = [`### zdm audit record: \`${a.migration}\``, ''];
  lines.push(
    `${a.engine}${a.method ? ` (${a.method})` : ''}: ${code(a.source)} → ${code(a.target)}; phase **${a.phase ?? 'begun'}**; written ${a.writtenAt}${path ? ` to \`${path}\` on the target` : ''}.`,
    '',
  );
  for (const [step, ev] of Object.entries(a.approval)) {
    if (!ev) continue;
    const run = ev.run.url
      ? ` in [the run](${ev.run.url}) (commit ${code(ev.run.commit?.slice(0, 12))}, actor ${code(ev.run.actor)})`
      : ` on ${code(ev.run.host)}`;
    const how =
      ev.how === 'github-review'
        ? `approved for environment ${code(ev.environment)} by ${ev.approvers!.map((x) => `**${cell(x.login)}**${x.comment ? ` ("${cell(x.comment)}")` : ''}`).join(', ')}; required reviewers: ${ev.protection?.reviewers.join(', ') || '–'}`
        : ev.how === 'not-required'
          ? '**not approved: `require-approval` was false** (an explicit choice)'
          : ev.how === 'typed'
            ? `confirmed on a terminal by typing the database name ${code(ev.database)}`
            : ev.how === '--yes'
              ? `confirmed with --yes on the command line (database ${code(ev.database)})`
              : 'run outside Actions and without a terminal: no approval asked';
    lines.push(`- **${step}**: ${how}${run}, ${ev.at}`);
  }
  if (Object.keys(a.approval).length) lines.push('');
  lines.push('| phase | at | step |', '| --- | --- | --- |', ...a.phases.map((p) => `| ${p.phase} | ${p.at} | ${p.step} |`), '');
  lines.push('| side | identifier | version | host (as the server reports it) | read at |', '| --- | --- | --- | --- | --- |');
  for (const side of ['source', 'target'] as const) {
    const s = a.servers[side];
    lines.push(s ? `| ${side} | ${s.idName} ${code(s.id)} | ${cell(s.version)} | ${cell(s.host)} | ${s.at} |` : `| ${side} | not read | | | |`);
  }
  lines.push('');
  const c = a.cutover;
  lines.push(
    `- positions: seed ${code(a.positions.seed)}, final ${code(a.positions.final)}${a.positions.reverse ? `, reverse from ${code(a.positions.reverse)}` : ''}${a.positions.rollbackFinal ? `, rollback final ${code(a.positions.rollbackFinal)}` : ''}`,
  );
  if (c)
    lines.push(
      `- cutover: write-blocked **${c.writeBlockedMs ?? '–'} ms** (fence ${c.fence ?? '–'})${c.poolerHeldMs !== undefined ? `, pooler held ${c.poolerHeldMs} ms` : ', no pooler'}${c.writesAfterFence ? `, writes after the fence: ${c.writesAfterFence}` : ''}`,
    );
  if (a.rollback) lines.push(`- rollback: write-blocked **${a.rollback.writeBlockedMs ?? '–'} ms** (fence ${a.rollback.fence ?? '–'})`);
  const v = a.verify;
  lines.push(
    v
      ? `- verify (${v.mode}): ${v.ok ? 'passed' : '**FAILED**'}, ${v.rowsCompared} rows in ${v.tables} tables, ${v.mismatches} mismatches; sha256 of ${v.checksums.chunks} chunk checksums ${code(v.checksums.sha256)}`
      : '- verify: not run',
  );
  lines.push(
    `- data location: declared ${a.dataLocation.declared ? `**${cell(a.dataLocation.declared)}**` : '(not declared: set `data-location`)'}; observed target host ${code(a.dataLocation.observedTargetHost?.hostname)} (${a.dataLocation.observedTargetHost?.addresses.join(', ') || 'no address'})`,
  );
  if (a.settings.length) {
    lines.push('', '| setting | original | changed to | restored |', '| --- | --- | --- | --- |');
    for (const s of a.settings)
      lines.push(`| ${s.scope === 'kernel' ? 'kernel ' : ''}${code(s.name)} | ${code(s.original)} | ${code(s.changedTo)} | ${cell(s.restored)} |`);
  }
  if (a.failures.length) lines.push('', `Failed attempts: ${a.failures.map((f) => `${f.step} at ${f.at}: ${cell(f.detail)}`).join('; ')}`);
  return lines.join('\n') + '\n';
}

/** Writes `<id>.audit.json` and `<id>.audit.md` beside the migration record; returns the JSON's path and the page. */
export async function writeAudit(store: RecordStore, rec: MigrationRecord): Promise<{ path: string; markdown: string; audit: AuditRecord }> {
  const audit = buildAudit(rec);
  const base = store.pathOf(rec.id).replace(/\.json$/, '');
  const path = `${base}.audit.json`;
  const markdown = auditMarkdown(audit, path);
  await store.ensureDir();
  for (const [file, text] of [
    [path, JSON.stringify(audit, null, 2) + '\n'],
    [`${base}.audit.md`, markdown],
  ] as const) {
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    await store.host.writeFile(tmp, text, { mode: 0o600 });
    await store.host.rename(tmp, file);
  }
  return { path, markdown, audit };
}
