/** A TCP relay on loopback that can be paused: a network stall that leaves every connection open. */
import * as net from 'node:net';

export class PausableProxy {
  private server?: net.Server;
  private paused = false;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  port = 0;

  constructor(private readonly dest: { host: string; port: number }) {}

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.dest.port, this.dest.host);
      const pair: [net.Socket, net.Socket] = [client, upstream];
      this.pairs.add(pair);
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
      client.pipe(upstream);
      upstream.pipe(client);
      if (this.paused) {
        client.pause();
        upstream.pause();
      }
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server!.address() as net.AddressInfo).port;
  }

  /** Stops moving bytes in both directions; connections stay open, as in a stalled network. */
  pause(): void {
    this.paused = true;
    for (const [a, b] of this.pairs) {
      a.unpipe(b);
      b.unpipe(a);
      a.pause();
      b.pause();
    }
  }

  resume(): void {
    this.paused = false;
    for (const [a, b] of this.pairs) {
      a.pipe(b);
      b.pipe(a);
      a.resume();
      b.resume();
    }
  }

  async stop(): Promise<void> {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}
