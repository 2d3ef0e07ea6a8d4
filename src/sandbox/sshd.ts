/** A throwaway OpenSSH server on loopback with a generated host key and client key. */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { killPidSync, register, removeSync, unregister, type Disposable } from './cleanup.js';
import type { NetnsPlacement } from './wan.js';
import { freePort, run, tailOf } from './util.js';

export interface SshdSandbox {
  readonly name: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly user: string;
  /** OpenSSH private key text of a client key without passphrase. */
  readonly privateKey: string;
  readonly privateKeyPath: string;
  /** `SHA256:...` of the host key, as ssh-keygen -lf prints it. */
  readonly hostKeyFingerprint: string;
  readonly knownHostsLine: string;
  readonly baseDir: string;
  readonly logFile: string;
  destroy(): Promise<void>;
}

class SshdImpl implements SshdSandbox, Disposable {
  readonly host = '127.0.0.1' as const;
  readonly user = os.userInfo().username;
  privateKey = '';
  hostKeyFingerprint = '';
  knownHostsLine = '';
  child?: ChildProcess;
  private destroyed = false;
  constructor(
    readonly name: string,
    readonly baseDir: string,
    readonly port: number,
  ) {}
  get privateKeyPath() {
    return `${this.baseDir}/client_key`;
  }
  get logFile() {
    return `${this.baseDir}/sshd.log`;
  }
  killSync(): void {
    killPidSync(this.child?.pid, 'SIGTERM');
    removeSync(this.baseDir);
  }
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    unregister(this);
    if (this.child && this.child.exitCode === null) {
      const exited = new Promise((r) => this.child!.once('exit', r));
      this.child.kill('SIGTERM');
      await exited;
    }
    await fs.rm(this.baseDir, { recursive: true, force: true });
  }
}

export interface SshdSandboxOptions {
  name?: string;
  /** Runs sshd inside a WAN test bed's namespace (see wan.ts): the commands it runs run there too. */
  netns?: NetnsPlacement;
}

export async function startSshd(opts: SshdSandboxOptions = {}): Promise<SshdSandbox> {
  const name = opts.name ?? 'sshd';
  const baseDir = await fs.mkdtemp(path.join(os.tmpdir(), `zdm-ssh-${name.slice(0, 10)}-`));
  const sb = new SshdImpl(name, baseDir, await freePort());
  register(sb);
  try {
    await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 }).catch(() => undefined);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'zdm-sandbox-host', '-f', `${baseDir}/host_key`]);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'zdm-sandbox-client', '-f', sb.privateKeyPath]);
    await fs.copyFile(`${sb.privateKeyPath}.pub`, `${baseDir}/authorized_keys`);
    sb.privateKey = await fs.readFile(sb.privateKeyPath, 'utf8');
    sb.hostKeyFingerprint = (await run('ssh-keygen', ['-l', '-f', `${baseDir}/host_key.pub`])).split(/\s+/)[1];
    const [type, blob] = (await fs.readFile(`${baseDir}/host_key.pub`, 'utf8')).trim().split(/\s+/);
    sb.knownHostsLine = `[127.0.0.1]:${sb.port} ${type} ${blob}`;
    const config = [
      `Port ${sb.port}`,
      'ListenAddress 127.0.0.1',
      ...(opts.netns ? [`ListenAddress ${opts.netns.address}`] : []),
      `HostKey ${baseDir}/host_key`,
      `PidFile ${baseDir}/sshd.pid`,
      `AuthorizedKeysFile ${baseDir}/authorized_keys`,
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin prohibit-password',
      'AllowTcpForwarding yes',
      'UsePAM no',
      'LogLevel DEBUG1', // logs each forwarded channel's target, which the tests read
    ].join('\n');
    await fs.writeFile(`${baseDir}/sshd_config`, config + '\n');
    const log = await fs.open(sb.logFile, 'a');
    await opts.netns?.expose(sb.port);
    const [bin, ...args] = (opts.netns?.wrap ?? ((a: string[]) => a))(['/usr/sbin/sshd', '-D', '-e', '-f', `${baseDir}/sshd_config`]);
    sb.child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => reject(new Error(`sshd did not start within 10 s: ${seen}`)), 10_000);
      sb.child!.stderr!.on('data', (c: Buffer) => {
        seen += c.toString();
        void log.write(c);
        if (seen.includes('Server listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      sb.child!.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`sshd exited with ${code}: ${seen}`));
      });
    });
    return sb;
  } catch (e) {
    const tail = await tailOf(sb.logFile);
    await sb.destroy();
    throw new Error(`sandbox ${name}: sshd did not start: ${(e as Error).message}\n${tail}`, { cause: e });
  }
}
