/** `fence: accounts` inputs: refused for PostgreSQL, kill-command needs {id}, application-accounts parsed or refused before any server is touched. */
import { describe, expect, it } from 'vitest';
import { readInputs } from '../../src/inputs.js';
import { InputError } from '../../src/errors.js';
import { parseAccountList } from '../../src/engines/mysql/account-fence.js';

const my: Record<string, string> = { 'source-url': 'mariadb://admin:pw@db-old:3306/', 'target-url': 'mariadb://root:pw@127.0.0.1:3307/', fence: 'accounts' };
const pg: Record<string, string> = {
  'source-url': 'postgres://admin:pw@db-old/postgres',
  'target-url': 'postgres://postgres:pw@127.0.0.1/postgres',
  fence: 'accounts',
};

describe('fence: accounts inputs', () => {
  it('is a MySQL/MariaDB fence: PostgreSQL is refused, naming its own fences', () => {
    expect(() => readInputs('cutover', (n) => pg[n])).toThrow(InputError);
    expect(() => readInputs('cutover', (n) => pg[n])).toThrow(
      /^input fence accounts is the MySQL\/MariaDB fence .*choose shutdown \(the default\) or read-only/,
    );
    const i = readInputs('cutover', (n) => my[n]);
    expect(i.fence).toBe('accounts');
    expect(i.killCommand).toBe('KILL CONNECTION {id}');
    expect(i.applicationAccounts).toBe('');
  });

  it('kill-command must hold {id}', () => {
    expect(() => readInputs('cutover', (n) => ({ ...my, 'kill-command': 'CALL mysql.rds_kill(1)' })[n])).toThrow(
      /^input kill-command must hold \{id\}, where the session id goes/,
    );
    expect(readInputs('rollback', (n) => ({ ...my, 'kill-command': 'CALL mysql.rds_kill({id})' })[n]).killCommand).toBe('CALL mysql.rds_kill({id})');
  });

  it('application-accounts: user@host lists, quotes allowed, a bare user means every host', () => {
    expect(parseAccountList("app@%, report@10.%  'etl'@'localhost',`bi`")).toEqual([
      { user: 'app', host: '%' },
      { user: 'report', host: '10.%' },
      { user: 'etl', host: 'localhost' },
      { user: 'bi', host: undefined },
    ]);
    expect(() => parseAccountList('app@%; DROP USER x')).toThrow(/^input application-accounts has "app@%;", which is not an account/);
    expect(() => parseAccountList("a'b@%")).toThrow(InputError);
  });
});
