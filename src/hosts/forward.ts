/** A local TCP port on 127.0.0.1 whose connections are carried through an SSH connection to host:port beyond it. */
import * as net from 'node:net';
import type { SshConnection } from './ssh.js';

export interface Forward {
  readonly port: number;
  /** Bytes carried in each direction so far. */
  readonly bytes: { in: number; out: number };
  close(): Promise<void>;
}

export interface ForwardOptions {
  /** Port to listen on (0: any free one). */
  listenPort?: number;
  /** The SSH connection to use for a new client connection, or undefined while there is none. */
  connection: () => SshConnection | undefined;
  dest: { host: string; port: number };
  onError?: (message: string) => void;
}

export async function openForward(opts: ForwardOptions): Promise<Forward> {
  const sockets = new Set<net.Socket>();
  const bytes = { in: 0, out: 0 };
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    const conn = opts.connection();
    if (!conn) {
      opts.onError?.('a connection came in while the SSH connection is down; refused');
      sock.destroy();
      return;
    }
    sock.pause();
    conn.forwardOut(opts.dest.host, opts.dest.port).then(
      (ch) => {
        ch.on('error', () => sock.destroy());
        sock.on('data', (d: Buffer) => (bytes.out += d.length));
        ch.on('data', (d: Buffer) => (bytes.in += d.length));
        sock.pipe(ch).pipe(sock);
        ch.on('close', () => sock.destroy());
        sock.on('close', () => ch.close());
        sock.resume();
      },
      (e: Error) => {
        opts.onError?.(e.message);
        sock.destroy();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.listenPort ?? 0, '127.0.0.1', resolve);
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    bytes,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
