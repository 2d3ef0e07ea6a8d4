/**
 * The disk-space and data-dir-writable checks both engines share (src/checks/target-dir.ts), on this
 * machine's real filesystem: each engine's message variant, word for word as before they were folded.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataDirWritableCheck, diskSpaceCheck, type TargetDirContext } from '../../src/checks/target-dir.js';
import { physicalDataDir } from '../../src/engines/data-dir.js';
import { InputError } from '../../src/errors.js';
import { LocalHost } from '../../src/hosts/local.js';

let parent: string;
let dataDir: string;
let ctx: TargetDirContext;

beforeAll(async () => {
  parent = await fs.mkdtemp(path.join(os.tmpdir(), 'zdm-target-dir-'));
  dataDir = path.join(parent, 'data');
  await fs.mkdir(dataDir);
  ctx = { dataDir, s: { ctx: { targetHost: new LocalHost() } } };
});
afterAll(() => fs.rm(parent, { recursive: true, force: true }));

describe('disk space on target', () => {
  it('passes when the copy fits and fails, saying what to do, when it does not', async () => {
    const fits = await diskSpaceCheck<TargetDirContext>(async () => 1024).run(ctx);
    expect(fits).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^[\d.]+ [kMGT]?B free, the copy needs about 1\.0 kB$/) });
    const free = await new LocalHost().freeBytes(parent);
    const huge = await diskSpaceCheck<TargetDirContext>(async () => free * 1000).run(ctx);
    expect(huge).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/ free, the copy needs about .+: free space on the target filesystem or use a larger disk$/),
    });
  });
});

describe('without target-data-dir (a logical seed needs none)', () => {
  const none: TargetDirContext = { dataDir: undefined, s: { ctx: { targetHost: new LocalHost() } } };

  it('skips both checks instead of measuring or writing the working directory', async () => {
    expect(await diskSpaceCheck<TargetDirContext>(async () => 1024).run(none)).toEqual({ status: 'skip', detail: 'target-data-dir is not given' });
    expect(await dataDirWritableCheck<TargetDirContext>().run(none)).toEqual({ status: 'skip', detail: 'target-data-dir is not given' });
  });

  it('measures the directory an engine names instead', async () => {
    const v = await diskSpaceCheck<TargetDirContext>(
      async () => 1024,
      async () => parent,
    ).run(none);
    expect(v).toMatchObject({ status: 'ok', detail: expect.stringMatching(/ free, the copy needs about 1\.0 kB$/) });
  });
});

describe('physicalDataDir: what the physical seeds write to', () => {
  it('refuses an empty target-data-dir, naming the input, instead of resolving it to the working directory', () => {
    for (const targetDataDir of [undefined, '']) {
      const e = (() => {
        try {
          physicalDataDir({ targetDataDir }, 'pg_basebackup', '/var/lib/postgresql/17/main');
        } catch (err) {
          return err;
        }
        return undefined;
      })();
      expect(e).toBeInstanceOf(InputError);
      expect((e as Error).message).toBe(
        "input target-data-dir is empty: the physical seed (pg_basebackup) replaces the target's data directory, so give it, e.g. /var/lib/postgresql/17/main; a logical seed (method: logical) does not need it",
      );
    }
  });

  it('resolves a given one', () => {
    expect(physicalDataDir({ targetDataDir: '/srv/pg/../pg17/main/' }, 'pg_basebackup', '')).toBe('/srv/pg17/main');
  });
});

describe('target-data-dir writable', () => {
  it("is ok by the data directory's owner", async () => {
    const v = await dataDirWritableCheck<TargetDirContext>().run(ctx);
    expect(v).toEqual({ status: 'ok', detail: `by ${os.userInfo().username}` });
  });

  it.skipIf(process.getuid?.() !== 0)("fails when the owner cannot write the parent, with or without the engine's reason", async () => {
    await fs.chown(dataDir, 65534, 65534); // nobody cannot create entries in a parent owned by root, mode 0755
    await fs.chmod(parent, 0o755);
    try {
      const owner = (await new LocalHost().ownerOf(dataDir)).name;
      const mysql = await dataDirWritableCheck<TargetDirContext>().run(ctx);
      expect(mysql).toEqual({
        status: 'fail',
        detail: `${owner} (the data directory's owner) cannot create entries in ${parent}. Fix the directory's owner or permissions.`,
      });
      const pg = await dataDirWritableCheck<TargetDirContext>((c) => `seed-replica replaces ${c.dataDir} there`).run(ctx);
      expect(pg).toEqual({
        status: 'fail',
        detail: `${owner} (the data directory's owner) cannot create entries in ${parent}: seed-replica replaces ${dataDir} there. Fix the directory's owner or permissions.`,
      });
    } finally {
      await fs.chown(dataDir, 0, 0);
    }
  });
});
