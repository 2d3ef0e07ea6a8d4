/**
 * A stand-in for GitHub's REST API on 127.0.0.1: it answers the two endpoints the approval gate
 * reads, in the shapes GitHub documents them (docs.github.com/rest/actions/workflow-runs#get-the-review-history-for-a-workflow-run
 * and /rest/deployments/environments#get-an-environment), from what the test puts in `state`.
 * Not GitHub: nothing else is answered (404), and a request without a token gets 401.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandinReview {
  state: 'approved' | 'rejected';
  login: string;
  comment: string;
  environments: string[];
}

export interface StandinEnvironment {
  /** Protection rule types: required_reviewers, wait_timer, branch_policy. */
  rules: string[];
  reviewers?: string[];
}

export interface StandinState {
  repository: string;
  runId: string;
  reviews: StandinReview[];
  environments: Record<string, StandinEnvironment>;
  /** Every request seen: method, path, and whether it carried a bearer token. */
  requests: { method: string; path: string; token: boolean }[];
}

export interface GitHubStandin {
  url: string;
  state: StandinState;
  close(): Promise<void>;
}

const user = (login: string, id: number) => ({ login, id, node_id: `U_${id}`, type: 'User', site_admin: false, html_url: `https://github.com/${login}` });
const envDoc = (repo: string, name: string, id: number) => ({
  id,
  node_id: `EN_${id}`,
  name,
  url: `https://api.github.com/repos/${repo}/environments/${name}`,
  html_url: `https://github.com/${repo}/deployments/activity_log?environments_filter=${name}`,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
});

function answer(state: StandinState, method: string, path: string): { status: number; body: unknown } {
  const notFound = { status: 404, body: { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' } };
  if (method !== 'GET') return notFound;
  const names = Object.keys(state.environments);
  const idOf = (name: string) => 100 + Math.max(0, names.indexOf(name));
  const runs = `/repos/${state.repository}/actions/runs/${state.runId}/approvals`;
  if (path === runs)
    return {
      status: 200,
      body: state.reviews.map((r, i) => ({
        environments: r.environments.map((e) => envDoc(state.repository, e, idOf(e))),
        state: r.state,
        user: user(r.login, 1000 + i),
        comment: r.comment,
      })),
    };
  const m = new RegExp(`^/repos/${state.repository}/environments/([^/?]+)$`).exec(path);
  const name = m && decodeURIComponent(m[1]);
  const env = name ? Object.entries(state.environments).find(([n]) => n.toLowerCase() === name.toLowerCase()) : undefined;
  if (!env) return notFound;
  const [envName, e] = env;
  return {
    status: 200,
    body: {
      ...envDoc(state.repository, envName, idOf(envName)),
      protection_rules: e.rules.map((type, i) =>
        type === 'required_reviewers'
          ? {
              id: 10 + i,
              node_id: `GA_${i}`,
              prevent_self_review: false,
              type,
              reviewers: (e.reviewers ?? []).map((login, j) => ({ type: 'User', reviewer: user(login, 2000 + j) })),
            }
          : type === 'wait_timer'
            ? { id: 10 + i, node_id: `GA_${i}`, type, wait_timer: 5 }
            : { id: 10 + i, node_id: `GA_${i}`, type },
      ),
      deployment_branch_policy: null,
    },
  };
}

export async function startGitHubStandin(repository = 'acme/shop', runId = '4242'): Promise<GitHubStandin> {
  const state: StandinState = { repository, runId, reviews: [], environments: {}, requests: [] };
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const token = /^(Bearer|token) \S+/.test(req.headers.authorization ?? '');
    state.requests.push({ method: req.method ?? '', path, token });
    const a = token ? answer(state, req.method ?? '', path) : { status: 401, body: { message: 'Requires authentication', status: '401' } };
    res.writeHead(a.status, { 'content-type': 'application/json; charset=utf-8', 'x-github-api-version-selected': '2022-11-28' });
    res.end(JSON.stringify(a.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
