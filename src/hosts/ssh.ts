/**
 * SSH to the source host with ssh2: host keys always verified (pinned fingerprint or known_hosts
 * line; an explicit, loudly logged opt-out), keepalives on, a fast AEAD cipher preferred.
 */
import { createHash } from 'node:crypto';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { UserError } from '../errors.js';
import type { Log } from '../log.js';
import type { RoundTrips } from './round-trips.js';

/** AEAD ciphers first, as the method advises for bulk transfers; ssh2 drops what the server lacks. */
export const CIPHERS = ['aes128-gcm@openssh.com', 'chacha20-poly1305@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes256-ctr'] as const;

export interface SshOptions {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  passphrase?: string;
  /** `SHA256:...` (ssh-keygen -lf) or a known_hosts line for the host. */
  hostKey?: string;
  insecureAnyHostKey?: boolean;
}

export function fingerprintOf(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/** Parses `user@host:port`-free host input: `host` or `host:port` or `[v6]:port`. */
export function parseSshHost(text: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? /^([^:]+)(?::(\d+))?$/.exec(text);
  if (!m) throw new UserError(`input source-ssh-host must be host or host:port (got ${JSON.stringify(text)})`);
  return { host: m[1], port: Number(m[2] ?? 22) };
}

/** Does a known_hosts line or a fingerprint match the key the server presented? */
export function hostKeyMatches(expected: string, keyBlob: Buffer): boolean {
  const e = expected.trim();
  if (e.startsWith('SHA256:')) return e.replace(/=+$/, '') === fingerprintOf(keyBlob);
  const fields = e.split(/\s+/);
  const blob = fields.find((f) => /^AAAA[0-9A-Za-z+/]+=*$/.test(f));
  return blob !== undefined && blob === keyBlob.toString('base64');
}

export class SshConnection {
  cipher = '';
  /** Counts each command run on the host (the source endpoint's trips). */
  trips?: RoundTrips;
  private closed = false;
  constructor(
    readonly client: Client,
    readonly opts: SshOptions,
  ) {}

  get label(): string {
    return `${this.opts.user}@${this.opts.host}:${this.opts.port}`;
  }

  /** Starts a remote command; the channel's stdin/stdout are the streams, `stderr` its error stream. */
  exec(command: string, opts: { count?: boolean } = {}): Promise<ClientChannel> {
    if (opts.count !== false) this.trips?.add('command');
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, ch) =>
        err ? reject(new Error(`ssh ${this.label}: cannot run a command: ${err.message}`, { cause: err })) : resolve(ch),
      );
    });
  }

  forwardOut(dstHost: string, dstPort: number): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      this.client.forwardOut('127.0.0.1', 0, dstHost, dstPort, (err, ch) =>
        err ? reject(new Error(`ssh ${this.label}: cannot open a tunnel to ${dstHost}:${dstPort}: ${err.message}`, { cause: err })) : resolve(ch),
      );
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.end();
  }
}

/** Connects and authenticates; every failure becomes a UserError naming the input to fix. */
export async function connectSsh(opts: SshOptions, log?: Log, inputPrefix = 'source-ssh'): Promise<SshConnection> {
  if (!opts.hostKey && !opts.insecureAnyHostKey) {
    throw new UserError(
      `input ${inputPrefix}-host-key is required: the SHA256 fingerprint (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the host) or a known_hosts line. Connecting to an unverified host would let anyone in the middle read the database traffic.`,
    );
  }
  if (!opts.hostKey && opts.insecureAnyHostKey) {
    log?.warn(
      `SSH HOST KEY NOT VERIFIED for ${opts.host}:${opts.port} (${inputPrefix}-insecure-accept-any-host-key is true): anyone able to intercept this connection can read and change the database traffic. Pin ${inputPrefix}-host-key.`,
    );
  }
  const client = new Client();
  let presented: string | undefined;
  let rejected = false;
  const config: ConnectConfig = {
    host: opts.host,
    port: opts.port,
    username: opts.user,
    privateKey: opts.privateKey,
    passphrase: opts.passphrase || undefined,
    readyTimeout: 20_000,
    keepaliveInterval: 10_000,
    keepaliveCountMax: 3,
    algorithms: { cipher: [...CIPHERS] },
    hostVerifier: (key: Buffer) => {
      presented = fingerprintOf(key);
      if (!opts.hostKey) return true;
      rejected = !hostKeyMatches(opts.hostKey, key);
      return !rejected;
    },
  };
  return new Promise((resolve, reject) => {
    const conn = new SshConnection(client, opts);
    client.on('handshake', (n) => (conn.cipher = n.cs.cipher));
    client.once('ready', () => {
      // Small request/response packets (SQL, channel opens) otherwise wait out Nagle against delayed ACKs: ~40 ms each.
      client.setNoDelay(true);
      resolve(conn);
    });
    client.once('error', (e: Error & { level?: string }) => {
      client.end();
      const at = `${opts.host}:${opts.port}`;
      if (rejected) {
        reject(
          new UserError(
            `${inputPrefix}-host-key: ${at} presented host key ${presented}, which is not the pinned key. Someone may be intercepting the connection, or the host's key changed: check the key out of band before you change ${inputPrefix}-host-key.`,
            { cause: e },
          ),
        );
      } else if (e.level === 'client-authentication') {
        reject(
          new UserError(
            `${inputPrefix}-key: ${opts.user}@${at} did not accept the private key. Check ${inputPrefix}-user, that the public key is in its authorized_keys, and ${inputPrefix}-passphrase.`,
            { cause: e },
          ),
        );
      } else if (/passphrase|encrypted|parse/i.test(e.message)) {
        reject(
          new UserError(
            `${inputPrefix}-key: cannot read the private key (${e.message}). Give the whole OpenSSH private key text, and ${inputPrefix}-passphrase if it is encrypted.`,
            { cause: e },
          ),
        );
      } else {
        reject(new UserError(`${inputPrefix}-host: cannot connect to ${at}: ${e.message}. Check the address, the port and any firewall.`, { cause: e }));
      }
    });
    try {
      client.connect(config);
    } catch (e) {
      reject(
        new UserError(
          `${inputPrefix}-key: cannot use the private key (${(e as Error).message}). Give the whole OpenSSH private key text, and ${inputPrefix}-passphrase if it is encrypted.`,
          { cause: e },
        ),
      );
    }
  });
}
