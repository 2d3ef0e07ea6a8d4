/**
 * The Inputs type and the step outputs are derived from the one schema in src/inputs.ts. These
 * assertions are checked by `tsc --noEmit` (test/ is part of the project); the runtime tests check
 * that what readInputs returns is what the type promises.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { INPUT_DEFS, OUTPUT_DEFS, outputsFor, readInputs, STEPS, type Inputs, type PoolerOptions, type StepOutputs } from '../../src/inputs.js';
import { outputDrift } from '../e2e/run-dist.js';
import type { StepResult } from '../../src/steps/step.js';

type OptionalKeys<T> = { [K in keyof T]-?: undefined extends T[K] ? K : never }[keyof T];

const pg: Record<string, string> = {
  'source-url': 'postgres://admin:pw@db-old:5432/postgres',
  'target-url': 'postgres://postgres:pw2@127.0.0.1:5433/postgres',
  'replication-user': 'repl',
  'replication-password': 'replpw',
  'target-data-dir': '/var/lib/postgresql/15/main',
  tuning: '{}',
};
const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

describe('Inputs derived from the schema', () => {
  it('maps each kind to its type, and resolves engine and fence', () => {
    expectTypeOf<Inputs['engine']>().toEqualTypeOf<'postgres' | 'mariadb' | 'mysql'>();
    expectTypeOf<Inputs['fence']>().toEqualTypeOf<'shutdown' | 'read-only' | 'accounts'>();
    expectTypeOf<Inputs['targetDiskType']>().toEqualTypeOf<'auto' | 'nvme' | 'ssd' | 'rotational'>();
    expectTypeOf<Inputs['pooler']>().toEqualTypeOf<'none' | 'pgbouncer' | 'haproxy'>();
    expectTypeOf<Inputs['targetUrl']>().toEqualTypeOf<URL>();
    expectTypeOf<Inputs['maxLagBytes']>().toEqualTypeOf<number>();
    expectTypeOf<Inputs['chunkRows']>().toEqualTypeOf<number>();
    expectTypeOf<Inputs['dryRun']>().toEqualTypeOf<boolean>();
    expectTypeOf<Inputs['sourceSshHost']>().toEqualTypeOf<string>();
    expectTypeOf<Inputs['heartbeatTable']>().toEqualTypeOf<string>();
    expectTypeOf<Inputs['replicationTunnelPort']>().toEqualTypeOf<number>();
    expectTypeOf<Inputs['tuning']>().toEqualTypeOf<unknown>();
  });

  it('gives the poolers their option group', () => {
    expectTypeOf<keyof PoolerOptions>().toEqualTypeOf<
      'engine' | 'pooler' | 'poolerAdminUrls' | 'poolerConfigFiles' | 'poolerDatabase' | 'poolerBackend' | 'poolerServer' | 'poolerTargetAddress'
    >();
  });

  it('is optional only where an input has no default and a step may go without it', () => {
    expectTypeOf<OptionalKeys<Inputs>>().toEqualTypeOf<
      'sourceUrl' | 'targetMemory' | 'targetCpus' | 'tuning' | 'appPoolSize' | 'expectReplicas' | 'targetDataDir' | 'maxRetainedBytes' | 'linkBandwidthMbit'
    >();
  });

  it('gives every input with a default its value in every step, typed by its kind', () => {
    for (const step of STEPS) {
      const values: Record<string, unknown> = readInputs(step, (n) => pg[n]);
      for (const def of INPUT_DEFS) {
        const v = values[camel(def.name)];
        if (def.default === undefined) continue;
        const want = { string: 'string', choice: 'string', int: 'number', number: 'number', bytes: 'number', bool: 'boolean', url: 'object', json: 'object' }[
          def.kind
        ];
        expect(typeof v, `${step}: ${def.name}`).toBe(want);
      }
      expect(['shutdown', 'read-only'], step).toContain(values.fence);
      expect(values.replicationTunnelPort, step).toBe(15432);
    }
  });

  it("keeps default '' for text inputs only: other kinds without a value are left out", () => {
    for (const def of INPUT_DEFS) if (def.default === '') expect(def.kind, def.name).toBe('string');
  });
});

describe('outputs typed per step', () => {
  it('are the record of the outputs the step declares', () => {
    expectTypeOf<StepOutputs<'finalize'>>().toEqualTypeOf<{ 'reverse-replication': string; 'audit-record'?: string }>();
    expectTypeOf<keyof StepOutputs<'await-lag-zero'>>().toEqualTypeOf<'lag-bytes' | 'lag-seconds' | 'waited-seconds'>();
    // @ts-expect-error an output finalize does not declare
    const extra: StepOutputs<'finalize'> = { 'reverse-replication': 'removed', endpoint: 'x' };
    // @ts-expect-error a declared output left out
    const missing: StepOutputs<'revert'> = {};
    // A step's declared return type checks the outputs it returns (as each step in src/steps declares it).
    const undeclared = async (): Promise<StepResult<'finalize'>> => {
      // @ts-expect-error a step that returns an output it does not declare
      return { outputs: { 'reverse-replication': 'removed', endpoint: 'x' }, summary: '' };
    };
    const incomplete = async (): Promise<StepResult<'seed-replica'>> => {
      // @ts-expect-error a step that leaves a declared output out
      return { outputs: { 'seed-position': '0/0' }, summary: '' };
    };
    expect([extra, missing, undeclared, incomplete]).toHaveLength(4);
  });

  it('are named once per step', () => {
    for (const step of STEPS) {
      const names = outputsFor(step).map((o) => o.name);
      expect(new Set(names).size, step).toBe(names.length);
    }
    expect(OUTPUT_DEFS.length).toBeGreaterThan(30);
  });

  it('drift in what a step really sets is caught by the e2e runner (test/e2e/run-dist.ts)', () => {
    const finalize = { 'reverse-replication': 'removed' };
    expect(outputDrift('finalize', finalize)).toBeUndefined();
    expect(outputDrift('finalize', {})).toBeUndefined();
    expect(outputDrift('finalize', { ...finalize, endpoint: 'x' })).toMatch(/undeclared \["endpoint"\]/);
    expect(outputDrift('revert', { other: '' })).toMatch(/missing \["reverted"\]/);
  });
});
