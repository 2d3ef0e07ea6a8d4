import { describe, expect, it } from 'vitest';
import { tlsVerdicts, type LinkTls } from '../../src/checks/tls.js';

const link = (over: Partial<LinkTls>): LinkTls => ({
  link: 'replication: target server -> source',
  input: 'source-url',
  at: 'db1.example:5432',
  host: 'db1.example',
  encrypted: false,
  verified: false,
  hostChecked: false,
  mode: 'sslmode=disable',
  fix: 'sslmode=verify-full and source-ssl-ca',
  ...over,
});

describe('TLS rows of preflight', () => {
  it('warns about plaintext across hosts, naming the input to set', () => {
    expect(tlsVerdicts([link({})])[0]).toEqual({
      check: 'TLS replication: target server -> source',
      status: 'warn',
      detail:
        'db1.example:5432: NOT encrypted (sslmode=disable): credentials and data cross the network in clear text. Set sslmode=verify-full and source-ssl-ca in source-url.',
    });
  });
  it('does not warn about loopback, and says what was verified', () => {
    expect(tlsVerdicts([link({ host: '127.0.0.1' })])[0].status).toBe('ok');
    expect(tlsVerdicts([link({ encrypted: true, verified: true, mode: 'sslmode=verify-ca' })])[0].detail).toBe(
      'db1.example:5432: encrypted, certificate verified against the CA, host name not checked (sslmode=verify-ca)',
    );
  });
});
