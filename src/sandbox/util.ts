import { randomBytes } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';

export const CACHE_DIR = `${os.tmpdir()}/zdm-sandbox-cache`;

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export interface Ids {
  uid: number;
  gid: number;
  name: string;
}

export async function lookupUser(name: string): Promise<Ids | undefined> {
  const passwd = await fs.readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export function currentUser(): Ids {
  return { name: os.userInfo().username, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

/** Runs a program to completion; rejects with its output on a non-zero exit. */
export function run(file: string, args: string[], opts: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { uid: opts.uid, gid: opts.gid, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${file} ${args.join(' ')} failed: ${err.message}\n${stderr}${stdout}`.trim()));
        else resolve(stdout + stderr);
      },
    );
  });
}

/** Runs a /bin/sh command line; rejects with its output on a non-zero exit. */
export function sh(command: string, timeoutMs = 120_000): Promise<string> {
  return run('/bin/sh', ['-c', command], { timeoutMs });
}

export function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export async function tailOf(file: string, lines = 15): Promise<string> {
  try {
    return (await fs.readFile(file, 'utf8')).split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Copies a template directory (cp -a keeps owners and modes). */
export function copyTree(from: string, to: string): Promise<string> {
  return run('cp', ['-a', from, to]);
}

/** Builds `dir` once with `build(tmp)`; concurrent builders race safely by rename. */
export async function buildOnce(dir: string, build: (tmp: string) => Promise<void>): Promise<void> {
  try {
    await fs.access(`${dir}/.complete`);
    return;
  } catch {
    /* not built yet */
  }
  await fs.mkdir(CACHE_DIR, { recursive: true, mode: 0o755 });
  await fs.chmod(CACHE_DIR, 0o755);
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await fs.mkdir(tmp, { mode: 0o755 });
  try {
    await build(tmp);
    await fs.writeFile(`${tmp}/.complete`, '');
    await fs.rename(tmp, dir).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
      await fs.rm(tmp, { recursive: true, force: true });
    });
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

export function spawnDetached(file: string, args: string[], logFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', `exec ${[file, ...args].map(q).join(' ')} >>${q(logFile)} 2>&1`], { detached: true, stdio: 'ignore' });
    child.on('error', reject);
    child.unref();
    resolve();
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
