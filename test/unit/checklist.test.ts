/** The pure parts of preflight and post-cutover: percentiles, probe and skew verdicts, the DNS TTL read from a real (tiny) server. */
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checklist } from '../../src/checklist/checklist.js';
import { judgeSkew, readOffset } from '../../src/checklist/clock.js';
import { judgeTtl, resolverFor } from '../../src/checklist/dns.js';
import { judgeProbe, percentile, probe, probeTcp, tcpOpener } from '../../src/checklist/probe.js';
import { compareVersions } from '../../src/engines/mysql/flavor.js';
import { StepFailed } from '../../src/steps/step.js';
import { TextLog } from '../../src/log.js';
import { startTinyDns, type TinyDns } from '../harness/dns.js';

describe('percentile', () => {
  it('is the nearest rank', () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeUndefined();
  });
});

describe('TCP probes', () => {
  let server: net.Server;
  let port: number;
  beforeAll(async () => {
    server = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('times 100 connects to a listening port', async () => {
    const r = await probeTcp('127.0.0.1', port);
    expect(r.samplesMs).toHaveLength(100);
    expect(r.failures).toBe(0);
    expect(r.p50!).toBeLessThanOrEqual(r.p99!);
    expect(judgeProbe(r, 1000).status).toBe('ok');
    expect(judgeProbe(r, -1).status).toBe('warn');
  });

  it('lets a real login clear the count of unauthenticated connects every `clearEvery` probes, and once at the end', async () => {
    let clears = 0;
    let sinceClear = 0;
    let most = 0;
    const open = await tcpOpener('127.0.0.1', port);
    const r = await probe(
      'x',
      async () => {
        most = Math.max(most, ++sinceClear);
        return open();
      },
      {
        clearEvery: 10,
        clear: async () => {
          clears++;
          sinceClear = 0;
        },
      },
    );
    expect(r.samplesMs).toHaveLength(100);
    expect(most).toBe(10);
    expect(clears).toBe(10);
    expect(sinceClear).toBe(0);
  });

  it('stops probing when the clearing login fails', async () => {
    const r = await probe('x', await tcpOpener('127.0.0.1', port), { clearEvery: 5, clear: () => Promise.reject(new Error('denied')) });
    expect(r.attempts).toBe(5);
  });

  it('gives up on a closed port after 3 refusals and fails with what to check', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const r = await probeTcp('127.0.0.1', closed);
    expect(r.attempts).toBe(3);
    const v = judgeProbe(r, 50);
    expect(v.status).toBe('fail');
    expect(v.detail).toBe(
      `cannot open a TCP connection to 127.0.0.1:${closed} (connection refused). Check the host and port, that the server runs and listens on that address, and any firewall between the runner and it.`,
    );
  });
});

describe('clock skew', () => {
  it('compensates for the round trip and keeps the fastest reading', async () => {
    let now = 1_000_000;
    const clock = () => now;
    // The server is 2 s ahead; each query takes 10 ms, 5 ms each way.
    const r = await readOffset(async () => {
      now += 5;
      const server = now + 2000;
      now += 5;
      return server;
    }, clock);
    expect(r.offsetMs).toBe(2000);
    expect(r.uncertaintyMs).toBe(5);
  });

  it('ok within 1 s, warns above, fails above max-clock-skew-seconds, and names the pair', () => {
    const at = (offsetMs: number) => ({ offsetMs, uncertaintyMs: 2 });
    expect(judgeSkew(at(10), at(-20), 5).status).toBe('ok');
    expect(judgeSkew(at(0), at(1500), 5)).toMatchObject({ status: 'warn' });
    const f = judgeSkew(at(0), at(-8000), 5);
    expect(f.status).toBe('fail');
    expect(f.detail).toMatch(/target vs source -8\.0 s .*above max-clock-skew-seconds \(5 s\)/);
    // A slow round trip cannot raise the alarm by itself.
    expect(judgeSkew({ offsetMs: 1400, uncertaintyMs: 600 }, at(0), 5).status).toBe('ok');
  });
});

describe('DNS TTL of the application host name', () => {
  let dns: TinyDns;
  beforeAll(async () => {
    dns = await startTinyDns({ 'db.short.test': { addresses: ['10.0.0.5'], ttl: 30 }, 'db.long.test': { addresses: ['10.0.0.6', '10.0.0.7'], ttl: 3600 } });
  });
  afterAll(() => dns.close());

  it('ok at or below the bound', async () => {
    const v = await judgeTtl('db.short.test', dns.server, 60);
    expect(v).toEqual({ status: 'ok', detail: `TTL 30 s (asked ${dns.server}) (A 10.0.0.5)` });
  });

  it('warns above the bound and says to lower it a day ahead', async () => {
    const v = await judgeTtl('db.long.test', dns.server, 60);
    expect(v.status).toBe('warn');
    expect(v.detail).toContain('TTL of db.long.test is 3600 s');
    expect(v.detail).toContain('Lower the TTL to 60 s or less a day ahead');
  });

  it('fails on a name that does not resolve', async () => {
    const v = await judgeTtl('nope.test', dns.server, 60);
    expect(v.status).toBe('fail');
    expect(v.detail).toMatch(/^cannot resolve nope\.test \(asked 127\.0\.0\.1:\d+\): ENOTFOUND/);
  });

  it('refuses a malformed dns-servers input by name', () => {
    expect(() => resolverFor('not an address')).toThrow(/^input dns-servers must be comma-separated addresses/);
  });
});

describe('Checklist', () => {
  it('fails with every failed row and its fix, and keeps the summary for the job summary', () => {
    const lines: string[] = [];
    const list = new Checklist(new TextLog((l) => lines.push(l)));
    list.add('a', 'ok', 'fine');
    list.add('b', 'warn', 'hmm');
    list.add('c', 'fail', 'broken: fix it');
    const summary = list.markdown('zdm test');
    expect(summary).toContain('| c | ❌ fail | broken: fix it |');
    expect(lines).toEqual(['ok   a: fine', 'WARN b: hmm', 'FAIL c: broken: fix it']);
    let err: unknown;
    try {
      list.throwIfFailed('test failed', { outputs: { checks: list.json() }, summary });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StepFailed);
    expect((err as StepFailed).message).toBe('test failed: 1 check(s) failed:\n- c: broken: fix it');
    expect((err as StepFailed).result.summary).toBe(summary);
    expect((err as StepFailed).result.outputs.checks).toBe(list.json());
    expect(JSON.parse(list.json())).toHaveLength(3);
  });
});

describe('compareVersions (MySQL/MariaDB target must not be older than the source)', () => {
  it('orders by the leading numbers and ignores the suffix', () => {
    expect(compareVersions('10.11.6-MariaDB-0+deb12u1', '10.6.18-MariaDB')).toBeGreaterThan(0);
    expect(compareVersions('8.0.36', '8.4.0')).toBeLessThan(0);
    expect(compareVersions('10.11.6-MariaDB-log', '10.11.6-MariaDB')).toBe(0);
  });
});
