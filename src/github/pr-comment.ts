/** One comment per pull request, created once and then updated, found again by a hidden marker. */
import { readFile } from 'node:fs/promises';
import * as github from '@actions/github';
import { UserError } from '../errors.js';

export interface PrTarget {
  owner: string;
  repo: string;
  number: number;
}

/** The pull request this workflow run is for, from the event file the runner writes. */
export async function pullRequestFromEvent(env: NodeJS.ProcessEnv = process.env): Promise<PrTarget | undefined> {
  const [owner, repo] = (env.GITHUB_REPOSITORY ?? '').split('/');
  if (!owner || !repo || !env.GITHUB_EVENT_PATH) return undefined;
  const event = JSON.parse(await readFile(env.GITHUB_EVENT_PATH, 'utf8')) as { pull_request?: { number?: number }; number?: number };
  const number = event.pull_request?.number ?? event.number;
  return number ? { owner, repo, number } : undefined;
}

/** Creates the comment, or updates the one that carries `marker`. Returns what it did. */
export async function upsertComment(token: string, pr: PrTarget, marker: string, body: string): Promise<'created' | 'updated'> {
  const octokit = github.getOctokit(token);
  try {
    const comments = await octokit.paginate(octokit.rest.issues.listComments, { owner: pr.owner, repo: pr.repo, issue_number: pr.number, per_page: 100 });
    const mine = comments.find((c) => c.body?.includes(marker));
    if (mine) {
      await octokit.rest.issues.updateComment({ owner: pr.owner, repo: pr.repo, comment_id: mine.id, body });
      return 'updated';
    }
    await octokit.rest.issues.createComment({ owner: pr.owner, repo: pr.repo, issue_number: pr.number, body });
    return 'created';
  } catch (e) {
    const status = (e as { status?: number }).status;
    throw new UserError(
      `could not comment on pull request #${pr.number}${status ? ` (HTTP ${status})` : ''}: ${(e as Error).message}. The workflow needs \`permissions: pull-requests: write\` and the token in GITHUB_TOKEN.`,
      { cause: e },
    );
  }
}
