/** preflight: each PostgreSQL link (runner to each server, the target server to the source) encrypted, and the peer verified. */
import type { CheckUnit } from '../../../checks/check.js';
import { tlsVerdicts, type LinkTls } from '../../../checks/tls.js';
import { addressOf, hostPortText } from '../../../hosts/endpoint.js';
import { tlsStateOf } from '../connect.js';
import { replicationAddress } from '../seed.js';
import { sslModeOf, tlsInputOf } from '../tls.js';
import type { PgCheckContext } from './context.js';

export const tlsLinks: CheckUnit<PgCheckContext> = {
  id: 'tls-links',
  title: 'TLS',
  scopes: ['preflight'],
  async run(c) {
    const s = c.s;
    const links: LinkTls[] = [];
    const src = tlsStateOf(await s.source());
    for (const [side, e, st] of [
      ['source', s.sourceEndpoint, src],
      ['target', s.targetEndpoint, tlsStateOf(await s.target())],
    ] as const) {
      links.push({
        link: `runner -> ${side}`,
        input: e.input,
        at: hostPortText(e.given),
        host: addressOf(e.connectUrl).host,
        encrypted: Boolean(st?.encrypted),
        verified: Boolean(st?.verified),
        hostChecked: Boolean(st?.hostChecked),
        mode: `sslmode=${st?.mode ?? 'prefer'}`,
        fix: `sslmode=verify-full and ${tlsInputOf(e.input)}`,
      });
    }
    // The standby's walreceiver (or the subscription) uses source-url's sslmode; prefer and allow get TLS where the source offers it.
    const mode = sslModeOf(s.sourceEndpoint.given, s.sourceEndpoint.input);
    const addr = replicationAddress(s);
    links.push({
      link: 'replication: target server -> source',
      input: s.sourceEndpoint.input,
      at: `${addr.host}:${addr.port}`,
      host: addr.host,
      encrypted: mode === 'disable' ? false : ['require', 'verify-ca', 'verify-full'].includes(mode) || Boolean(src?.encrypted),
      verified: mode === 'verify-ca' || mode === 'verify-full' || (mode === 'require' && s.sourceEndpoint.given.searchParams.has('sslrootcert')),
      hostChecked: mode === 'verify-full',
      mode: `sslmode=${mode}`,
      fix: `sslmode=verify-full and ${tlsInputOf(s.sourceEndpoint.input)}`,
    });
    return tlsVerdicts(links);
  },
};
