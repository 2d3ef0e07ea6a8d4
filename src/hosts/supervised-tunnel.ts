/**
 * The replication tunnel: the target's database server must reach the source for as long as
 * replication runs, across jobs and an approval that can take days. So the tunnel is a process
 * of its own: started detached and outside the runner's job tracking (the runner kills processes
 * carrying its RUNNER_TRACKING_ID at job end), it keeps a local port open, reconnects SSH with
 * backoff, and records its pid, state and log in a directory; cutover stops it.
 */
import { spawn } from 'node:child_process';
import { childEnv } from './child-env.js';
import { existsSync, readFileSync, writeFileSync, rmSync, openSync, closeSync, mkdirSync, chmodSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import type { Log } from '../log.js';
import { openForward } from './forward.js';
import { connectSsh, type SshConnection, type SshOptions } from './ssh.js';

export interface TunnelSpec {
  name: string;
  dir: string;
  listenPort: number;
  ssh: Omit<SshOptions, 'privateKey' | 'passphrase'>;
  dest: { host: string; port: number };
}

export interface TunnelStatus {
  pid: number;
  state: 'up' | 'down';
  since: string;
  reconnects: number;
  lastError?: string;
  listenPort: number;
  bytesIn: number;
  bytesOut: number;
}

export function tunnelPaths(dir: string, name: string) {
  const base = path.join(dir, name);
  return {
    config: `${base}.json`,
    key: `${base}.key`,
    passphrase: `${base}.passphrase`,
    pid: `${base}.pid`,
    status: `${base}.status.json`,
    log: `${base}.log`,
  };
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function readTunnelStatus(dir: string, name: string): TunnelStatus | undefined {
  const p = tunnelPaths(dir, name);
  try {
    const st = JSON.parse(readFileSync(p.status, 'utf8')) as TunnelStatus;
    return alive(st.pid) ? st : undefined;
  } catch {
    return undefined;
  }
}

/** The bundle to run the daemon with: dist/index.js itself, or the one beside the sources in tests. */
function bundleEntry(): string {
  const self = fileURLToPath(import.meta.url);
  return self.endsWith('.ts') ? path.resolve(path.dirname(self), '../../dist/index.js') : self;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts the tunnel (or keeps the running one with the same spec) and waits until it is up. */
export async function startSupervisedTunnel(spec: TunnelSpec, secrets: { privateKey: string; passphrase?: string }, log: Log): Promise<TunnelStatus> {
  const p = tunnelPaths(spec.dir, spec.name);
  mkdirSync(spec.dir, { recursive: true, mode: 0o700 });
  chmodSync(spec.dir, 0o700);
  const running = readTunnelStatus(spec.dir, spec.name);
  const sameSpec = existsSync(p.config) && readFileSync(p.config, 'utf8') === JSON.stringify(spec, null, 2);
  if (running && sameSpec) {
    // Alive with the same spec: keep it (it may be between two reconnects), and wait for it to be up.
    const st = await waitUntilUp(spec, running.pid, 30_000);
    log.info(
      `replication tunnel ${spec.name} running (pid ${st.pid}, ${st.reconnects} reconnects, 127.0.0.1:${spec.listenPort} -> ${spec.dest.host}:${spec.dest.port} via ${spec.ssh.host})`,
    );
    return st;
  }
  if (running) await stopSupervisedTunnel(spec.dir, spec.name);
  writeFileSync(p.key, secrets.privateKey, { mode: 0o600 });
  if (secrets.passphrase) writeFileSync(p.passphrase, secrets.passphrase, { mode: 0o600 });
  writeFileSync(p.config, JSON.stringify(spec, null, 2), { mode: 0o600 });
  rmSync(p.status, { force: true });
  const env = childEnv();
  delete env.RUNNER_TRACKING_ID;
  const out = openSync(p.log, 'a', 0o600);
  const child = spawn(process.execPath, [bundleEntry(), 'tunnel', 'run', '--config', p.config], { detached: true, stdio: ['ignore', out, out], env });
  child.unref();
  closeSync(out);
  const st = await waitUntilUp(spec, child.pid!, 30_000);
  log.info(
    `replication tunnel ${spec.name} up: pid ${st.pid}, 127.0.0.1:${spec.listenPort} -> ${spec.dest.host}:${spec.dest.port} via ${spec.ssh.user}@${spec.ssh.host}:${spec.ssh.port}; log ${p.log}`,
  );
  return st;
}

async function waitUntilUp(spec: TunnelSpec, pid: number, timeoutMs: number): Promise<TunnelStatus> {
  const p = tunnelPaths(spec.dir, spec.name);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = readTunnelStatus(spec.dir, spec.name);
    if (st?.state === 'up') return st;
    if (!alive(pid) || Date.now() > deadline) {
      const tail = existsSync(p.log) ? readFileSync(p.log, 'utf8').trim().split('\n').slice(-3).join(' | ') : '';
      throw new UserError(
        `the replication tunnel ${spec.name} is not up after ${timeoutMs / 1000} s${st?.lastError ? ` (${st.lastError})` : ''}: ${tail || 'no log'}. Check the SSH inputs, and the log ${p.log}.`,
      );
    }
    await sleep(100);
  }
}

export async function stopSupervisedTunnel(dir: string, name: string): Promise<boolean> {
  const p = tunnelPaths(dir, name);
  let pid: number | undefined;
  try {
    pid = Number(readFileSync(p.pid, 'utf8').trim()) || undefined;
  } catch {
    pid = undefined;
  }
  const wasRunning = alive(pid);
  if (wasRunning) {
    process.kill(pid!, 'SIGTERM');
    for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
    if (alive(pid)) process.kill(pid!, 'SIGKILL');
  }
  for (const f of [p.pid, p.status, p.key, p.passphrase, p.config]) rmSync(f, { force: true });
  return wasRunning;
}

/** The daemon itself (`zdm tunnel run --config FILE`). */
export async function runTunnelDaemon(configPath: string): Promise<void> {
  const spec = JSON.parse(readFileSync(configPath, 'utf8')) as TunnelSpec;
  const p = tunnelPaths(spec.dir, spec.name);
  const opts: SshOptions = {
    ...spec.ssh,
    privateKey: readFileSync(p.key, 'utf8'),
    passphrase: existsSync(p.passphrase) ? readFileSync(p.passphrase, 'utf8') : undefined,
  };
  const say = (m: string) => process.stdout.write(`${new Date().toISOString()} ${m}\n`);
  writeFileSync(p.pid, String(process.pid), { mode: 0o600 });
  let conn: SshConnection | undefined;
  let stopping = false;
  const state: Omit<TunnelStatus, 'bytesIn' | 'bytesOut'> = {
    pid: process.pid,
    state: 'down',
    since: new Date().toISOString(),
    reconnects: 0,
    listenPort: spec.listenPort,
  };
  const fwd = await openForward({ listenPort: spec.listenPort, connection: () => conn, dest: spec.dest, onError: (m) => say(m) });
  const save = () => writeFileSync(p.status, JSON.stringify({ ...state, bytesIn: fwd.bytes.in, bytesOut: fwd.bytes.out }), { mode: 0o600 });
  const statusTimer = setInterval(save, 5000);
  let wake: () => void = () => undefined;
  process.once('SIGTERM', () => {
    stopping = true;
    conn?.close();
    wake();
  });
  let delay = 1000;
  while (!stopping) {
    try {
      conn = await connectSsh(opts);
      Object.assign(state, { state: 'up', since: new Date().toISOString(), lastError: undefined });
      save();
      say(`connected to ${conn.label} (cipher ${conn.cipher}); forwarding 127.0.0.1:${spec.listenPort} -> ${spec.dest.host}:${spec.dest.port}`);
      delay = 1000;
      await new Promise<void>((r) => {
        wake = r;
        conn!.client.once('close', () => r());
      });
      conn = undefined;
      if (stopping) break;
      state.reconnects++;
      Object.assign(state, { state: 'down', since: new Date().toISOString(), lastError: 'SSH connection lost' });
      save();
      say('SSH connection lost; reconnecting');
    } catch (e) {
      Object.assign(state, { state: 'down', lastError: (e as Error).message });
      save();
      say(`connect failed: ${(e as Error).message}; retrying in ${delay / 1000} s`);
    }
    await new Promise<void>((r) => {
      wake = r;
      setTimeout(r, delay);
    });
    delay = Math.min(delay * 2, 30_000);
  }
  clearInterval(statusTimer);
  await fwd.close();
  rmSync(p.pid, { force: true });
  rmSync(p.status, { force: true });
  say('stopped');
}
