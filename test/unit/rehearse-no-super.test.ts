/** `zdm rehearse --no-super`: refused with one clear line where it cannot work, before any server starts. */
import { describe, expect, it } from 'vitest';
import { rehearseCommand } from '../../src/rehearse/command.js';
import { TextLog } from '../../src/log.js';

const refusal = (args: string[]) =>
  rehearseCommand(args, new TextLog(() => undefined)).then(
    () => 'accepted',
    (e: Error) => e.message,
  );

describe('zdm rehearse --no-super', () => {
  it('needs MariaDB, the accounts fence, and no way back', async () => {
    expect(await refusal(['--engine', 'postgres', '--no-super'])).toMatch(/^--no-super needs --engine mariadb/);
    expect(await refusal(['--engine', 'mariadb', '--no-super', '--fence', 'read-only'])).toBe(
      '--no-super fences with --fence accounts (the default with it): --fence read-only needs SUPER on the source',
    );
    expect(await refusal(['--engine', 'postgres', '--fence', 'accounts'])).toMatch(/^--fence accounts needs --engine mariadb/);
    expect(await refusal(['--engine', 'mariadb', '--no-super', '--rollback'])).toMatch(/^--rollback is not supported with --no-super: reverse replication/);
    expect(await refusal(['--engine', 'mariadb', '--fence', 'nope'])).toBe('--fence must be auto, shutdown, read-only or accounts (got "nope")');
  });
});
