/**
 * The approval gate of cutover on real PostgreSQL, with a stand-in for GitHub's REST API (a local
 * HTTP server answering the two endpoints as GitHub documents them, test/harness/github-standin.ts):
 * every refusal leaves the source taking writes; an approval, or `require-approval: false`, lets
 * the cutover run and the migration record says which.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { runCli } from '../../src/cli.js';
import { defaultMigrationId, type MigrationRecord } from '../../src/state/record.js';
import type { ApprovalEvidence } from '../../src/github/approval.js';
import type { AuditRecord } from '../../src/state/audit.js';
import { loadSampleData, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';
import { pgAppWrite } from '../harness/pg-app.js';
import { startGitHubStandin, type GitHubStandin } from '../harness/github-standin.js';

let api: GitHubStandin;
let refused: PgPair;
let unapproved: PgPair;
let confirmed: PgPair;
const tunings = new Map<PgPair, string>();
const ENV_KEYS = ['GITHUB_ACTIONS', 'GITHUB_REPOSITORY', 'GITHUB_RUN_ID', 'GITHUB_API_URL', 'GITHUB_SERVER_URL', 'GITHUB_SHA', 'GITHUB_ACTOR'];
const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));

function run(step: StepName, raw: Record<string, string>) {
  return runStep(step, (n) => raw[n], new TextLog(() => undefined));
}
const common = (p: PgPair) => ({ 'source-url': p.source.url(), 'target-url': p.target.url() });

async function migratedPair(): Promise<PgPair> {
  const p = await startPgPair();
  await loadSampleData(p, 1);
  const tuning = (await run('tune-target', { ...common(p), 'target-memory': '512MB', 'kernel-tuning': 'off' })).outputs.tuning;
  tunings.set(p, tuning);
  await run('seed-replica', {
    ...common(p),
    'replication-user': p.replicationUser,
    'replication-password': p.replicationPassword,
    'target-data-dir': p.target.dataDir,
    'target-start-command': p.target.startCommand,
    'target-stop-command': p.target.stopCommand,
  });
  await run('await-lag-zero', { ...common(p), 'settle-seconds': '1' });
  return p;
}

/** This process as a cutover job of run 4242 of acme/shop, reading the stand-in. */
function inActions(apiUrl = api.url): void {
  Object.assign(process.env, {
    GITHUB_ACTIONS: 'true',
    GITHUB_REPOSITORY: 'acme/shop',
    GITHUB_RUN_ID: '4242',
    GITHUB_API_URL: apiUrl,
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_SHA: 'c0ffee0000000000000000000000000000000000',
    GITHUB_ACTOR: 'release-bot',
  });
}

const cutover = (p: PgPair, extra: Record<string, string> = {}) =>
  run('cutover', { ...common(p), fence: 'read-only', 'github-token': 'ghs_standin_token_0123', ...extra });

async function refusal(p: PgPair, extra: Record<string, string> = {}): Promise<string> {
  let message = '';
  await cutover(p, extra).then(
    () => (message = 'cutover ran'),
    (e: unknown) => (message = describeError(e)),
  );
  return message;
}

function recordOf(p: PgPair): MigrationRecord {
  const file = path.join(process.env.ZDM_STATE_DIR!, `${defaultMigrationId(new URL(p.target.url()))}.json`);
  return JSON.parse(readFileSync(file, 'utf8')) as MigrationRecord;
}
const approvalOf = (p: PgPair) => (recordOf(p).extra?.approval as Record<string, ApprovalEvidence> | undefined)?.cutover;

beforeAll(async () => {
  api = await startGitHubStandin();
  refused = await migratedPair();
  unapproved = await migratedPair();
  confirmed = await migratedPair();
}, 300_000);

afterEach(() => {
  for (const k of ENV_KEYS)
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  api.state.reviews = [];
  api.state.environments = {};
});

afterAll(async () => {
  await api?.close();
  await refused?.destroy();
  await unapproved?.destroy();
  await confirmed?.destroy();
}, 60_000);

describe('cutover refuses unless an approval is proven (GitHub REST API stand-in)', () => {
  let seq = 0;
  /** The refusal changed nothing: the application still writes on the source. */
  const sourceStillWrites = () => pgAppWrite(refused, 'source', ++seq);

  it('no approval for the environment: refused, and the source keeps taking writes', async () => {
    inActions();
    api.state.environments.production = { rules: ['required_reviewers'], reviewers: ['dba-lead'] };
    const m = await refusal(refused);
    expect(m).toMatch(/^cutover refused: no reviewer approved this run for the environment `production` \(the run has no reviews\)/);
    expect(m).toMatch(/Nothing was changed/);
    expect(m).toMatch(/require-approval: false/);
    expect(m).not.toMatch(/ghs_standin/);
    expect(api.state.requests.every((r) => r.token)).toBe(true);
    expect(api.state.requests.map((r) => r.path)).toEqual(
      expect.arrayContaining(['/repos/acme/shop/actions/runs/4242/approvals', '/repos/acme/shop/environments/production']),
    );
    await sourceStillWrites();
    expect((await refused.target.query('SELECT pg_is_in_recovery() AS r'))[0].r).toBe(true);
  });

  it('an approval for another environment, or a rejection, does not count', async () => {
    inActions();
    api.state.environments.production = { rules: ['required_reviewers'], reviewers: ['dba-lead'] };
    api.state.reviews = [{ state: 'approved', login: 'dev1', comment: 'ok for staging', environments: ['staging'] }];
    expect(await refusal(refused)).toMatch(
      /no reviewer approved this run for the environment `production` \(reviews of this run: approved by dev1 for staging;/,
    );
    api.state.reviews = [{ state: 'rejected', login: 'dba-lead', comment: 'not tonight', environments: ['production'] }];
    expect(await refusal(refused)).toMatch(/no reviewer approved .* \(reviews of this run: rejected by dba-lead for production;/);
    await sourceStillWrites();
  });

  it('an environment without required reviewers, or missing: refused, naming the cause', async () => {
    inActions();
    api.state.reviews = [{ state: 'approved', login: 'dba-lead', comment: 'go', environments: ['production'] }];
    api.state.environments.production = { rules: ['wait_timer'] };
    const m = await refusal(refused);
    expect(m).toMatch(/the environment `production` has no required reviewers in its protection rules \(wait_timer\)/);
    expect(m).toMatch(/private repositories on some plans/);
    api.state.environments = {};
    expect(await refusal(refused)).toMatch(
      /the environment `production` does not exist in acme\/shop, so it has no required reviewers \(a job naming it would create it unprotected\)/,
    );
    await sourceStillWrites();
  });

  it('the API unreachable: refused, not passed', async () => {
    const closed = await startGitHubStandin();
    await closed.close();
    inActions(closed.url);
    const m = await refusal(refused);
    expect(m).toMatch(/^cutover refused: the GitHub REST API at http:\/\/127\.0\.0\.1:\d+ could not be reached .*an unreachable API is a refusal, not a pass/);
    await sourceStillWrites();
    // Every refusal is in the record, none as a pass.
    const rec = recordOf(refused);
    expect(rec.phase).toBe('caught-up');
    expect(rec.events.filter((e) => e.step === 'cutover' && e.result === 'failed').length).toBeGreaterThanOrEqual(6);
    expect(approvalOf(refused)).toBeUndefined();
  });

  it('on the command line with no terminal and no --yes: refused, naming the flag', async () => {
    const code = await runCli(
      ['cutover', '--source-url', refused.source.url(), '--target-url', refused.target.url(), '--fence', 'read-only'],
      new TextLog(() => undefined),
    );
    expect(code).toBe(1);
    expect(recordOf(refused).events.at(-1)?.detail).toMatch(/no terminal \(stdin is not a TTY\)\. Pass --yes/);
    await sourceStillWrites();
  });

  it('an approval for the environment: runs, and the record names the approver and the comment', async () => {
    inActions();
    api.state.environments.Production = { rules: ['required_reviewers', 'wait_timer'], reviewers: ['dba-lead', 'cto'] };
    api.state.reviews = [
      { state: 'rejected', login: 'dev1', comment: 'wait', environments: ['staging'] },
      { state: 'approved', login: 'dba-lead', comment: 'Go: change CHG-1234 approved', environments: ['production'] },
    ];
    const r = await cutover(refused, { tuning: tunings.get(refused)! });
    expect(Number(r.outputs['write-blocked-ms'])).toBeGreaterThanOrEqual(0);
    const a = approvalOf(refused)!;
    expect(a).toMatchObject({
      how: 'github-review',
      requireApproval: true,
      environment: 'production',
      approvers: [{ login: 'dba-lead', comment: 'Go: change CHG-1234 approved' }],
    });
    expect(a.protection).toEqual({ rules: ['required_reviewers', 'wait_timer'], reviewers: ['dba-lead', 'cto'] });
    expect(a.run).toMatchObject({
      url: 'https://github.com/acme/shop/actions/runs/4242',
      commit: 'c0ffee0000000000000000000000000000000000',
      actor: 'release-bot',
    });
    expect(recordOf(refused).phase).toBe('promoted');
    expect(JSON.stringify(recordOf(refused))).not.toMatch(/ghs_standin/);
    // The audit record, offered as an output and in the summary, names them too.
    const audit = readFileSync(r.outputs['audit-record']!, 'utf8');
    expect((JSON.parse(audit) as AuditRecord).approval.cutover?.approvers).toEqual([{ login: 'dba-lead', comment: 'Go: change CHG-1234 approved' }]);
    expect(audit).not.toMatch(/ghs_standin/);
    expect(r.summary).toMatch(/approved for environment `production` by \*\*dba-lead\*\* \("Go: change CHG-1234 approved"\)/);
  }, 120_000);

  it('rollback too refuses before anything without an approval, and the new primary keeps its writes', async () => {
    inActions();
    api.state.environments.production = { rules: ['required_reviewers'], reviewers: ['dba-lead'] };
    api.state.reviews = [{ state: 'approved', login: 'dba-lead', comment: 'cutover only', environments: ['staging'] }];
    let m = '';
    await run('rollback', { ...common(refused), fence: 'read-only', 'github-token': 'ghs_standin_token_0123' }).catch((e: unknown) => (m = describeError(e)));
    expect(m).toMatch(/^rollback refused: no reviewer approved this run for the environment `production`/);
    await pgAppWrite(refused, 'target', 100_000);
    expect(recordOf(refused).phase).toBe('promoted');
  });

  it('require-approval: false: runs without asking the API, and the record says so', async () => {
    inActions();
    const before = api.state.requests.length;
    await cutover(unapproved, { 'require-approval': 'false', tuning: tunings.get(unapproved)! });
    expect(api.state.requests.length).toBe(before);
    expect(approvalOf(unapproved)).toMatchObject({ how: 'not-required', requireApproval: false, step: 'cutover' });
    expect(recordOf(unapproved).phase).toBe('promoted');
  }, 120_000);

  it('on the command line with --yes: runs without asking the API, and the record says it was confirmed so', async () => {
    const before = api.state.requests.length;
    const out: string[] = [];
    const code = await runCli(
      ['cutover', '--source-url', confirmed.source.url(), '--target-url', confirmed.target.url(), '--fence', 'read-only', '--yes'],
      new TextLog((l) => out.push(l)),
    );
    expect(code, out.join('\n')).toBe(0);
    expect(api.state.requests.length).toBe(before);
    expect(approvalOf(confirmed)).toMatchObject({ how: '--yes', requireApproval: true, database: 'postgres' });
    expect(recordOf(confirmed).phase).toBe('promoted');
  }, 120_000);
});
