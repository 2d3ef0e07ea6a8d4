/** preflight: each MySQL/MariaDB link (runner to each server, the target's replication channel) encrypted, and the peer verified. */
import type { CheckUnit } from '../../../checks/check.js';
import { tlsVerdicts, type LinkTls } from '../../../checks/tls.js';
import { addressOf, hostPortText } from '../../../hosts/endpoint.js';
import { tlsStateOf } from '../connect.js';
import { replicationAddress } from '../seed.js';
import { myTls, myTlsInputOf } from '../tls.js';
import type { MyCheckContext } from './context.js';

export const tlsLinks: CheckUnit<MyCheckContext> = {
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
        mode: `ssl-mode=${st?.mode ?? 'PREFERRED'}`,
        fix: `ssl-mode=VERIFY_IDENTITY and ${myTlsInputOf(e.input)}`,
      });
    }
    // The replication channel: what replicationTls gives CHANGE MASTER (PREFERRED: TLS where the runner got it).
    const t = myTls(s.sourceEndpoint.given, s.sourceEndpoint.input);
    const addr = replicationAddress(s);
    links.push({
      link: 'replication: target server -> source',
      input: s.sourceEndpoint.input,
      at: `${addr.host}:${addr.port}`,
      host: addr.host,
      encrypted: t.mode === 'PREFERRED' ? Boolean(src?.encrypted) : t.mode !== 'DISABLED',
      verified: t.verified,
      // MariaDB's MASTER_SSL_VERIFY_SERVER_CERT checks the host name with the chain.
      hostChecked: t.hostChecked || (t.verified && (await s.flavor()).name === 'mariadb'),
      mode: `ssl-mode=${t.mode}`,
      fix: `ssl-mode=VERIFY_IDENTITY and ${myTlsInputOf(s.sourceEndpoint.input)}`,
    });
    return tlsVerdicts(links);
  },
};
