/** The rehearsal report as Markdown: for the job summary and the pull request comment. */
import type { RehearsalReport } from '../rehearse/rehearsal.js';
import { lagChart } from './lag-chart.js';
import { table } from './markdown.js';

export const COMMENT_MARKER = '<!-- zdm-rehearsal-report -->';

export function rehearsalMarkdown(r: RehearsalReport): string {
  const mb = (r.dataBytes / 1024 ** 2).toFixed(0);
  const lines = [
    COMMENT_MARKER,
    `### zdm rehearsal: ${r.ok ? '✅ ok' : '❌ NOT ok'}`,
    '',
    `${r.engine} ${r.serverVersion}, ${mb} MB of data, ${r.writes.perSecond} writes/s during the whole migration, transport ${r.transport}, ${r.machine.cpus} CPUs.`,
    '',
    `Servers: **${r.durability.label}** (${Object.entries(r.durability.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}).`,
    '',
    table(
      ['step', 'result', 'seconds'],
      r.steps.map((s) => [s.name, s.ok ? 'ok' : `failed: ${s.error ?? ''}`, s.seconds.toFixed(1)]),
    ),
    table(
      [
        'write-blocked window (cutover)',
        'as the writing client saw it',
        'fence',
        'source round trips',
        'writes acknowledged',
        'acknowledged but missing on the target',
        'failed attempts (requests)',
        'longest pause of one request (p50 / p99 of those waiting)',
      ],
      [
        [
          r.cutover.writeBlockedMs === null ? '-' : `${r.cutover.writeBlockedMs} ms`,
          r.cutover.clientWriteBlockedMs === null ? '-' : `${r.cutover.clientWriteBlockedMs} ms`,
          r.cutover.fence,
          r.cutover.sourceRoundTrips ?? '-',
          r.writes.acknowledged,
          r.writes.missingOnTarget === null ? 'not checked' : r.writes.missingOnTarget,
          `${r.writes.failed} (${r.writes.failedRequests})`,
          r.writes.clientPauseMs ? `${r.writes.clientPauseMs.max} ms (${r.writes.clientPauseMs.p50} / ${r.writes.clientPauseMs.p99} ms)` : '-',
        ],
      ],
    ),
  ];
  if (r.cutover.phasesMs)
    lines.push(
      table(
        ['where the cutover window went', 'ms'],
        Object.entries(r.cutover.phasesMs).map(([k, v]) => [k, v]),
      ),
    );
  if (r.rollback) {
    const rb = r.rollback;
    lines.push(
      table(
        [
          'write-blocked window (rollback)',
          'as the writing client saw it',
          'fence',
          'acknowledged by the new primary',
          'acknowledged by the old source after rollback',
          'acknowledged but missing on the old source',
        ],
        [
          [
            rb.writeBlockedMs === null ? '-' : `${rb.writeBlockedMs} ms`,
            rb.clientWriteBlockedMs === null ? '-' : `${rb.clientWriteBlockedMs} ms`,
            rb.fence,
            rb.acknowledgedByNewPrimary,
            rb.acknowledgedByOldSourceAfter,
            rb.missingOnOldSource === null ? 'not checked' : rb.missingOnOldSource,
          ],
        ],
      ),
    );
  }
  if (r.verify) {
    const v = r.verify;
    lines.push(
      table(
        ['verify', 'result', 'rows compared', 'mismatches', 'the write load'],
        [[v.mode, v.ok ? 'passed' : 'FAILED', v.rowsCompared, v.mismatches, v.mode === 'strict' ? `paused ${v.writesPausedMs} ms for it` : 'kept running']],
      ),
    );
  }
  if (r.lag.length > 1) lines.push(lagChart(r.lag, 'Replication lag while catching up'));
  if (r.error) lines.push(`**Error:** ${r.error}`, '');
  return lines.join('\n');
}
