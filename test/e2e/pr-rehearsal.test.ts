/**
 * The PR rehearsal the way its workflow runs it: the composite action's own script, with the
 * runner's environment, and @actions/github's client pointed at a local HTTP server on loopback
 * that plays the GitHub API and records every request. One comment is created, then updated.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

interface Recorded {
  method: string;
  url: string;
  auth: string | undefined;
  body: string;
}

const requests: Recorded[] = [];
const comments: { id: number; body: string }[] = [];
let server: http.Server;
let apiUrl = '';
const dir = mkdtempSync(path.join(os.tmpdir(), 'zdm-pr-'));

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body });
      const json = (status: number, data: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(data));
      };
      const url = new URL(req.url!, 'http://x');
      if (req.method === 'GET' && url.pathname === '/repos/acme/shop/issues/7/comments') return json(200, comments);
      if (req.method === 'POST' && url.pathname === '/repos/acme/shop/issues/7/comments') {
        const c = { id: 1000 + comments.length, body: JSON.parse(body).body };
        comments.push(c);
        return json(201, c);
      }
      const m = /^\/repos\/acme\/shop\/issues\/comments\/(\d+)$/.exec(url.pathname);
      if (req.method === 'PATCH' && m) {
        const c = comments.find((x) => x.id === Number(m[1]));
        if (!c) return json(404, { message: 'Not Found' });
        c.body = JSON.parse(body).body;
        return json(200, c);
      }
      json(404, { message: `no route ${req.method} ${url.pathname}` });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the rehearse action's `run:` script with the env the runner would give it. */
async function runAction(): Promise<{ status: number | null; stdout: string; stderr: string; outputs: string; summary: string }> {
  const action = parse(readFileSync('actions/rehearse/action.yml', 'utf8'));
  const step = action.runs.steps[0];
  const inputs: Record<string, string> = {};
  for (const [name, def] of Object.entries<{ default?: string }>(action.inputs)) inputs[name] = def.default ?? '';
  Object.assign(inputs, { 'size-mb': '8', 'install-servers': 'false', 'github-token': 'ghs_test_token_123' });
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries<string>(step.env)) env[k] = v.replace(/\$\{\{ inputs\.([a-z-]+) \}\}/, (_, n: string) => inputs[n]);
  const event = path.join(dir, 'event.json');
  writeFileSync(event, JSON.stringify({ action: 'synchronize', number: 7, pull_request: { number: 7 } }));
  const outputs = path.join(dir, 'output');
  const summary = path.join(dir, 'summary');
  writeFileSync(outputs, '');
  writeFileSync(summary, '');
  // Not spawnSync: the fake API server lives in this process and must keep answering.
  const child = spawn('bash', ['-e', '-c', step.run], {
    env: {
      PATH: process.env.PATH!,
      HOME: process.env.HOME!,
      ...env,
      GITHUB_ACTIONS: 'true',
      GITHUB_ACTION_PATH: path.resolve('actions/rehearse'),
      RUNNER_TEMP: dir,
      GITHUB_OUTPUT: outputs,
      GITHUB_STEP_SUMMARY: summary,
      GITHUB_EVENT_PATH: event,
      GITHUB_EVENT_NAME: 'pull_request',
      GITHUB_REPOSITORY: 'acme/shop',
      GITHUB_API_URL: apiUrl,
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const r = { status, stdout, stderr };
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, outputs: readFileSync(outputs, 'utf8'), summary: readFileSync(summary, 'utf8') };
}

describe('PR rehearsal workflow', () => {
  it('creates one comment with the report, then updates that same comment', async () => {
    const first = await runAction();
    if (first.status !== 0) throw new Error(`${first.stdout}\n${first.stderr.slice(-3000)}`);
    expect(requests.filter((r) => r.method === 'POST')).toHaveLength(1);
    expect(comments).toHaveLength(1);
    expect(comments[0].body).toContain('<!-- zdm-rehearsal-report -->');
    expect(comments[0].body).toContain('### zdm rehearsal: ✅ ok');
    expect(comments[0].body).toMatch(/\| acknowledged but missing on the target \|/);
    expect(comments[0].body).toContain('```mermaid');
    expect(first.summary).toContain('zdm rehearsal');
    expect(first.outputs).toContain(`report=${dir}/zdm-rehearsal.json`);
    expect(JSON.parse(readFileSync(path.join(dir, 'zdm-rehearsal.json'), 'utf8')).ok).toBe(true);
    expect(first.stderr).toMatch(/created the rehearsal comment on acme\/shop#7/);
    const firstBody = comments[0].body;

    const second = await runAction();
    if (second.status !== 0) throw new Error(`${second.stdout}\n${second.stderr.slice(-3000)}`);
    expect(comments).toHaveLength(1);
    expect(requests.filter((r) => r.method === 'POST')).toHaveLength(1);
    expect(requests.filter((r) => r.method === 'PATCH').map((r) => r.url)).toEqual([`/repos/acme/shop/issues/comments/${comments[0].id}`]);
    expect(comments[0].body).not.toBe(firstBody);
    expect(second.stderr).toMatch(/updated the rehearsal comment on acme\/shop#7/);
    for (const r of requests) expect(r.auth).toBe('token ghs_test_token_123');
    // The token never shows in what the step prints.
    expect(first.stdout + first.stderr + second.stdout + second.stderr).not.toContain('ghs_test_token_123');
  }, 300_000);
});
