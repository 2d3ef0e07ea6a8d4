/**
 * The WAN test bed (src/sandbox/wan.ts): the source behind a network namespace, a shaped veth and
 * a delaying relay. The bed delays and shapes what it should, reaches nothing beyond itself, and
 * leaves nothing behind.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startWan } from '../../src/sandbox/wan.js';
import { usePostgres, useWan } from '../harness/index.js';

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });

describe('WAN test bed', () => {
  const wan = useWan({ rttMs: 30, bandwidthMbit: 50 });
  const source = usePostgres(() => ({ name: 'wan-src', netns: wan().placement }));

  it('delays each round trip by the RTT and shapes the link to the bandwidth', async () => {
    const m = await wan().measure(2 * 1024 * 1024);
    expect(m.rttMs).toBeGreaterThanOrEqual(30);
    // htb may overshoot a little with GSO; the relay only ever slows it down.
    expect(m.mbit).toBeLessThan(50 * 1.15);
    expect(m.mbit).toBeGreaterThan(5);
  });

  it('a server in the namespace answers on 127.0.0.1 through the relay, one RTT per query', async () => {
    const [{ addr }] = await source().query<{ addr: string }>('SELECT host(inet_server_addr()) AS addr');
    expect(addr).toBe(wan().placement.address);
    const t = performance.now();
    await source().query('SELECT 1'); // connect, authenticate, query: several round trips
    expect(performance.now() - t).toBeGreaterThanOrEqual(3 * 30);
  });

  it('the namespace has no default route and only the link-local veth besides loopback', () => {
    const ns = wan().placement.netns;
    expect(ip('-n', ns, 'route', 'show', 'default').trim()).toBe('');
    const addrs = ip('-n', ns, '-4', '-o', 'addr', 'show')
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/)[3]);
    expect(addrs.sort()).toEqual(['127.0.0.1/8', `${wan().placement.address}/30`]);
    expect(wan().placement.address).toMatch(/^169\.254\./);
  });
});

it('removes the namespace, the veth and its qdiscs when destroyed', async () => {
  const bed = await startWan({ rttMs: 2, bandwidthMbit: 10 });
  const ns = bed.placement.netns;
  expect(ip('netns', 'list')).toContain(ns);
  const veth = `zw${ns.slice('zdm-wan-'.length)}r`;
  expect(execFileSync('tc', ['qdisc', 'show', 'dev', veth], { encoding: 'utf8' })).toContain('htb');
  await bed.destroy();
  expect(ip('netns', 'list')).not.toContain(ns);
  expect(ip('-o', 'link', 'show')).not.toContain(veth);
});
