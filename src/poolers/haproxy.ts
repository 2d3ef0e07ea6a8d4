/**
 * HAProxy in front of MySQL/MariaDB, driven through its runtime API (the stats socket at admin
 * level, over TCP or a unix socket; one command per connection). HAProxy cannot hold queries:
 * nothing is paused; once the target is promoted the backend's server is pointed at it
 * (`set server ... addr ... port ...`) and the sessions still on the old source are shut down
 * (`shutdown sessions server`), so that clients reconnect through HAProxy to the new primary.
 */
import { lookup } from 'node:dns/promises';
import * as net from 'node:net';
import { describeError } from '../errors.js';
import type { Address, LongTransaction, Pooler, PoolerCheck } from './pooler.js';

export interface HaproxyOptions {
  /** tcp://host:port or unix:/path/to/admin.sock */
  adminUrl: string;
  backend: string;
  server: string;
}

const TIMEOUT_MS = 5000;

export class Haproxy implements Pooler {
  readonly label: string;
  readonly holds = false;
  constructor(private readonly o: HaproxyOptions) {
    this.label = `haproxy ${o.adminUrl.replace(/^tcp:\/\//, '').replace(/^unix:/, '')}`;
  }

  private socket(): net.Socket {
    const u = this.o.adminUrl;
    if (u.startsWith('unix:')) return net.connect(u.slice('unix:'.length).replace(/^\/\//, ''));
    const url = new URL(u);
    return net.connect(Number(url.port), url.hostname.replace(/^\[|\]$/g, ''));
  }

  /** One runtime API command; its whole answer. */
  command(cmd: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = this.socket();
      let out = '';
      const timer = setTimeout(() => s.destroy(new Error(`no answer to "${cmd}" within ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS);
      s.setEncoding('utf8');
      s.on('connect', () => s.write(cmd + '\n'));
      s.on('data', (d) => (out += d));
      s.on('error', (e) => (clearTimeout(timer), reject(e)));
      s.on('close', () => (clearTimeout(timer), resolve(out.trim())));
    });
  }

  private async serverLine(): Promise<string[] | undefined> {
    const text = await this.command(`show servers state ${this.o.backend}`);
    if (/Can't find backend/i.test(text)) return undefined;
    // be_id be_name srv_id srv_name srv_addr srv_op_state ... srv_port (field 19)
    return text
      .split('\n')
      .map((l) => l.split(' '))
      .find((f) => f[1] === this.o.backend && f[3] === this.o.server);
  }

  async check(): Promise<PoolerCheck[]> {
    const name = `${this.label} server ${this.o.backend}/${this.o.server}`;
    try {
      const level = await this.command('show cli level');
      if (level !== 'admin')
        return [
          {
            check: `${this.label} reachable`,
            status: 'fail',
            detail: `the runtime API answers at level ${level || 'unknown'}, not admin: add "level admin" to its stats socket line and reload HAProxy`,
          },
        ];
      const line = await this.serverLine();
      return [
        { check: `${this.label} reachable`, status: 'ok', detail: 'runtime API at admin level' },
        line
          ? { check: name, status: 'ok', detail: `points at ${line[4]}:${line[18]}` }
          : {
              check: name,
              status: 'fail',
              detail: `HAProxy has no server ${this.o.server} in backend ${this.o.backend}: set pooler-backend and pooler-server to the ones the application's frontend uses`,
            },
      ];
    } catch (e) {
      return [
        {
          check: `${this.label} reachable`,
          status: 'fail',
          detail: `cannot use its runtime API: ${describeError(e)}. Check pooler-admin-urls (tcp://host:port or unix:/path of a "stats socket ... level admin") and that the runner can reach it.`,
        },
      ];
    }
  }

  async isPaused(): Promise<boolean> {
    return false;
  }
  async findLongTransactions(): Promise<LongTransaction[]> {
    return [];
  }
  async pause(): Promise<void> {}
  async resume(): Promise<void> {}

  async repoint(to: Address): Promise<string> {
    const ip = net.isIP(to.host) ? to.host : (await lookup(to.host)).address;
    const srv = `${this.o.backend}/${this.o.server}`;
    const set = await this.command(`set server ${srv} addr ${ip} port ${to.port}`);
    const line = await this.serverLine();
    if (!line || line[4] !== ip || Number(line[18]) !== to.port) throw new Error(`HAProxy did not take the new address of ${srv}: ${set || '(no answer)'}`);
    // Sessions opened before the change stay on the old source: end them, the clients reconnect here.
    await this.command(`shutdown sessions server ${srv}`);
    return `${this.label}: ${srv} now points at ${ip}:${to.port}; its sessions to the old source were shut down (${set.split('\n')[0]})`;
  }

  async close(): Promise<void> {}
}
