/** How each link of a migration is protected: the rows of the TLS check, the same for every engine. */
import { ok, warn, type Verdict } from './check.js';

export interface LinkTls {
  /** e.g. "runner -> source", "replication: target server -> source". */
  link: string;
  /** The input that sets this link's TLS: named in a warning. */
  input: string;
  /** host:port the link reaches, for the detail. */
  at: string;
  /** The host name or address dialled: loopback links are not warned about. */
  host: string;
  encrypted: boolean;
  verified: boolean;
  hostChecked: boolean;
  /** The mode as configured, e.g. sslmode=prefer or ssl-mode=VERIFY_IDENTITY. */
  mode: string;
  /** What to set for an encrypted, verified link, e.g. "sslmode=verify-full and source-ssl-ca". */
  fix: string;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/i;

/** One row per link: ok when encrypted (saying what was verified), a warning for plaintext across hosts. */
export function tlsVerdicts(links: LinkTls[]): Verdict[] {
  return links.map((l) => {
    const check = `TLS ${l.link}`;
    if (l.encrypted) {
      const peer = l.hostChecked
        ? 'certificate and host name verified'
        : l.verified
          ? 'certificate verified against the CA, host name not checked'
          : 'peer NOT verified';
      return { ...ok(`${l.at}: encrypted, ${peer} (${l.mode})${l.verified ? '' : `; to verify it, set ${l.fix}`}`), check };
    }
    if (LOOPBACK.test(l.host)) return { ...ok(`${l.at}: not encrypted, on this machine's loopback (${l.mode})`), check };
    return { ...warn(`${l.at}: NOT encrypted (${l.mode}): credentials and data cross the network in clear text. Set ${l.fix} in ${l.input}.`), check };
  });
}
