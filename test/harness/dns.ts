/**
 * A tiny authoritative DNS server on 127.0.0.1 for tests: answers A queries for the names it is
 * given with a chosen TTL, NOERROR without answers for other types of those names, NXDOMAIN otherwise.
 */
import * as dgram from 'node:dgram';

export interface DnsRecord {
  addresses: string[];
  ttl: number;
}

export interface TinyDns {
  readonly port: number;
  /** `127.0.0.1:<port>`, for the dns-servers input. */
  readonly server: string;
  records: Map<string, DnsRecord>;
  close(): Promise<void>;
}

function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = offset;
  while (msg[i] !== 0) {
    labels.push(msg.subarray(i + 1, i + 1 + msg[i]).toString('ascii'));
    i += msg[i] + 1;
  }
  return { name: labels.join('.').toLowerCase(), end: i + 1 };
}

function answer(query: Buffer, records: Map<string, DnsRecord>): Buffer {
  const { name, end } = readName(query, 12);
  const qtype = query.readUInt16BE(end);
  const question = query.subarray(12, end + 4);
  const rec = records.get(name);
  const answers = rec && qtype === 1 ? rec.addresses : [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // id
  header.writeUInt16BE(rec ? 0x8580 : 0x8583, 2); // response, authoritative, RD+RA; NXDOMAIN for unknown names
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const rrs = answers.map((ip) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
    rr.writeUInt16BE(1, 2); // A
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(rec!.ttl, 6);
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((o, k) => rr.writeUInt8(Number(o), 12 + k));
    return rr;
  });
  return Buffer.concat([header, question, ...rrs]);
}

export async function startTinyDns(records: Record<string, DnsRecord> = {}): Promise<TinyDns> {
  const sock = dgram.createSocket('udp4');
  const map = new Map(Object.entries(records).map(([k, v]) => [k.toLowerCase(), v]));
  sock.on('message', (msg, from) => {
    try {
      sock.send(answer(msg, map), from.port, from.address);
    } catch {
      /* a malformed query gets no answer */
    }
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', resolve);
  });
  const port = sock.address().port;
  return {
    port,
    server: `127.0.0.1:${port}`,
    records: map,
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}
