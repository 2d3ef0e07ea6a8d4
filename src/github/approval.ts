/**
 * The approval gate of cutover and rollback: a switch of writes happens only when a person is
 * proven to have approved it, not assumed. In GitHub Actions the REST API must show both that a
 * reviewer approved this run for `approval-environment` and that the environment requires
 * reviewers (GitHub does not enforce required reviewers on private repositories on some plans, and
 * a job naming a missing environment creates it without protection: either way the job would run
 * with no person involved). On a terminal the CLI asks for the database's name instead. What was
 * proven is kept in the migration record (`extra.approval`), for the audit record.
 */
import { describeError, SafetyError } from '../errors.js';
import type { StepContext } from '../engines/engine.js';
import { currentRun } from '../state/journal.js';
import type { RunInfo } from '../state/record.js';
import { GitHubRest } from './rest.js';

/** How a switch was allowed, as the records keep it. */
export interface ApprovalEvidence {
  step: string;
  at: string;
  /** The `require-approval` input. */
  requireApproval: boolean;
  /** github-review: proven through the API; not-required: require-approval false; typed / --yes: the CLI; unchecked: neither Actions nor a terminal (a library caller). */
  how: 'github-review' | 'not-required' | 'typed' | '--yes' | 'unchecked';
  environment?: string;
  /** On a terminal: the database name the user typed (or confirmed with --yes). */
  database?: string;
  /** The reviews that approved this run for the environment. */
  approvers?: { login: string; comment: string }[];
  /** The environment's protection rules by type, and who may review. */
  protection?: { rules: string[]; reviewers: string[] };
  run: RunInfo;
}

interface Review {
  state?: string;
  comment?: string | null;
  user?: { login?: string } | null;
  environments?: { name?: string }[];
}
interface Environment {
  name?: string;
  protection_rules?: { type?: string; reviewers?: { type?: string; reviewer?: { login?: string; name?: string; slug?: string } }[] }[];
}

const WHY =
  'GitHub does not enforce required reviewers on private repositories on some plans, and a job that names a missing environment creates it with no protection: the switch would then run with no person involved.';
const PROCEED = (step: string, env: string) =>
  `Give the environment \`${env}\` required reviewers (Settings → Environments), run the ${step} job in it (\`environment: ${env}\`) and have a reviewer approve the run; ` +
  'or, where your plan cannot enforce reviewers, set `require-approval: false`: an explicit choice that the migration record and the audit record keep.';

/** Refuses, before anything is changed, a switch that nobody is proven to have approved; records how it was allowed. */
export async function requireApproval(ctx: StepContext, step: 'cutover' | 'rollback', env: NodeJS.ProcessEnv = process.env): Promise<ApprovalEvidence> {
  const { inputs, log } = ctx;
  const base = { step, at: new Date().toISOString(), requireApproval: inputs.requireApproval, run: currentRun(env) };
  let evidence: ApprovalEvidence;
  if (!inputs.requireApproval) {
    log.warn(`require-approval is false: ${step} runs without a proven approval (an explicit choice, kept in the migration record)`);
    evidence = { ...base, how: 'not-required' };
  } else if (env.GITHUB_ACTIONS === 'true') {
    evidence = { ...base, how: 'github-review', ...(await reviewedRun(step, inputs.approvalEnvironment, inputs.githubToken, env)) };
    const who = evidence.approvers!.map((a) => `${a.login}${a.comment ? ` ("${a.comment}")` : ''}`).join(', ');
    log.info(`approval: ${step} approved for environment ${evidence.environment} by ${who}; the environment requires reviewers`);
  } else if (ctx.confirm) {
    const database = databaseOf(ctx);
    evidence = { ...base, how: await ctx.confirm({ step, database }), database };
  } else evidence = { ...base, how: 'unchecked' };
  const prev = (ctx.journal?.record.extra?.approval ?? {}) as Record<string, ApprovalEvidence>;
  await ctx.journal?.extra('approval', { ...prev, [step]: evidence });
  return evidence;
}

/** The name a user types to confirm on a terminal: the database of source-url, else its host. */
export function databaseOf(ctx: StepContext): string {
  const u = ctx.inputs.sourceUrl ?? ctx.inputs.targetUrl;
  return decodeURIComponent(u.pathname.replace(/^\//, '')) || u.hostname;
}

/** Reads the run's reviews and the environment's rules; refuses unless both prove a required, given approval. */
async function reviewedRun(
  step: string,
  environment: string,
  token: string,
  env: NodeJS.ProcessEnv,
): Promise<Pick<ApprovalEvidence, 'environment' | 'approvers' | 'protection'>> {
  const repo = env.GITHUB_REPOSITORY;
  const runId = env.GITHUB_RUN_ID;
  const refuse = (what: string, cause?: unknown) =>
    new SafetyError(
      `${step} refused: ${what} Nothing was changed; ${step === 'rollback' ? 'the new primary' : 'the source'} keeps taking writes. ${PROCEED(step, environment)}`,
      { cause },
    );
  if (!repo || !runId) throw refuse('GITHUB_REPOSITORY or GITHUB_RUN_ID is not set, so this run cannot be looked up in the REST API.');
  if (!token)
    throw refuse('github-token is empty: the approval cannot be read (the actions pass `${{ github.token }}`; the job needs `permissions: actions: read`).');
  const api = new GitHubRest(token, env.GITHUB_API_URL || 'https://api.github.com');
  const envPath = `/repos/${repo}/environments/${encodeURIComponent(environment)}`;
  const runPath = `/repos/${repo}/actions/runs/${runId}/approvals`;
  let answers: [Awaited<ReturnType<GitHubRest['get']>>, Awaited<ReturnType<GitHubRest['get']>>];
  try {
    answers = await Promise.all([api.get<Review[]>(runPath), api.get<Environment>(envPath)]);
  } catch (e) {
    throw refuse(
      `the GitHub REST API at ${api.base} could not be reached (${describeError(e)}), so no approval is proven: an unreachable API is a refusal, not a pass.`,
      e,
    );
  }
  const [runAnswer, envAnswer] = answers;
  const httpError = (a: { status: number; body: unknown }, what: string) =>
    `GET ${what} answered HTTP ${a.status}${(a.body as { message?: string })?.message ? ` (${(a.body as { message?: string }).message})` : ''}`;
  if (runAnswer.status !== 200 || !Array.isArray(runAnswer.body))
    throw refuse(`${httpError(runAnswer, runPath)}: the run's reviews cannot be read. The job needs \`permissions: actions: read\` for github-token.`);
  const missing: string[] = [];
  let protection: ApprovalEvidence['protection'];
  if (envAnswer.status === 404)
    missing.push(`the environment \`${environment}\` does not exist in ${repo}, so it has no required reviewers (a job naming it would create it unprotected)`);
  else if (envAnswer.status !== 200) throw refuse(`${httpError(envAnswer, envPath)}: the environment's protection rules cannot be read.`);
  else {
    const rules = (envAnswer.body as Environment).protection_rules ?? [];
    protection = {
      rules: rules.map((r) => r.type ?? '?'),
      reviewers: rules.flatMap((r) => r.reviewers ?? []).map((r) => r.reviewer?.login ?? r.reviewer?.slug ?? r.reviewer?.name ?? '?'),
    };
    if (!rules.some((r) => r.type === 'required_reviewers'))
      missing.push(
        `the environment \`${environment}\` has no required reviewers in its protection rules (${protection.rules.length ? protection.rules.join(', ') : 'none'})`,
      );
  }
  const reviews = runAnswer.body as Review[];
  const forEnv = reviews.filter((r) => (r.environments ?? []).some((e) => (e.name ?? '').toLowerCase() === environment.toLowerCase()));
  const approvers = forEnv.filter((r) => r.state === 'approved').map((r) => ({ login: r.user?.login ?? '?', comment: r.comment ?? '' }));
  const unprotected = missing.length > 0;
  if (!approvers.length)
    missing.push(
      `no reviewer approved this run for the environment \`${environment}\`${reviewsSeen(reviews, environment)}${unprotected ? '' : `: does the ${step} job say \`environment: ${environment}\`?`}`,
    );
  if (missing.length) throw refuse(`${missing.join('; and ')}.${unprotected ? ` ${WHY}` : ''}`);
  return { environment, approvers, protection };
}

/** What the reviews that did not count were, for the refusal: rejected, or for another environment. */
function reviewsSeen(reviews: Review[], environment: string): string {
  if (!reviews.length) return ' (the run has no reviews)';
  const seen = reviews.map(
    (r) => `${r.state ?? '?'} by ${r.user?.login ?? '?'} for ${(r.environments ?? []).map((e) => e.name ?? '?').join(', ') || 'no environment'}`,
  );
  return ` (reviews of this run: ${seen.join('; ')}; only an approval for ${environment} counts)`;
}
