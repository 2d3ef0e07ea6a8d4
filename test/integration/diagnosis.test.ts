/**
 * await-lag-zero names the bottleneck on real servers: a MariaDB replica whose stream is stalled
 * (a paused relay between it and the source) is diagnosed as a network problem.
 */
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';
import { PausableProxy } from '../harness/proxy.js';

let fx: MariadbFixture;
let proxy: PausableProxy;

beforeAll(async () => {
  fx = await MariadbFixture.start();
  await fx.loadSampleData(1);
  proxy = new PausableProxy({ host: '127.0.0.1', port: fx.source.port });
  await proxy.start();
}, 180_000);

afterAll(async () => {
  proxy?.resume();
  await proxy?.stop();
  await fx?.destroy();
}, 60_000);

describe('await-lag-zero diagnosis', () => {
  it('names the network when the stream to the target stalls, with the measured rates', async () => {
    const inputs = fx.stepInputs({ fence: 'auto', targetMemory: '1GB' });
    const log = new TextLog(() => undefined);
    await runStep('seed-replica', (n) => ({ ...inputs['seed-replica'], 'source-replication-address': `127.0.0.1:${proxy.port}` })[n], log);
    await runStep('await-lag-zero', (n) => ({ ...inputs['await-lag-zero'], 'settle-seconds': '1' })[n], log);

    proxy.pause();
    const app = await mysql.createConnection({ uri: fx.appUrl(fx.source) });
    try {
      for (let i = 1; i <= 200; i++) await app.query('INSERT INTO writes (client_seq, payload) VALUES (?, REPEAT(?, 60))', [i, 'x']);
      let message = '';
      await runStep('await-lag-zero', (n) => ({ ...inputs['await-lag-zero'], 'timeout-seconds': '3' })[n], log).catch((e) => (message = describeError(e)));
      expect(message).toMatch(/^the target did not catch up within timeout-seconds \(3 s\):/);
      expect(message).toMatch(/measured over the last minute: source writes .*, stream 0 B\/s, apply 0 B\/s; target iowait \d+%, steal \d+%, CPU \d+%/);
      expect(message).toMatch(/bottleneck: the network between source and target: .* has not reached the target yet/);
    } finally {
      proxy.resume();
      await app.end();
    }
    // Once the stream moves again the same step succeeds.
    await runStep('await-lag-zero', (n) => ({ ...inputs['await-lag-zero'], 'settle-seconds': '1', 'timeout-seconds': '60' })[n], log);
  }, 120_000);
});
