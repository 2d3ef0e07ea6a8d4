/**
 * A WAN test bed: a network namespace for the source (its server, its sshd) joined to the root
 * namespace by a veth pair, bandwidth shaped with `tc` htb on both ends, and latency from a
 * delaying TCP relay, because this kernel has no netem.
 *
 *   root namespace                              namespace zdm-wan-<random>
 *   client -> 127.0.0.1:P (relay: holds each chunk one-way delay) -> veth ==htb== veth -> 169.254.x.y:P
 *
 * Everything a test connects to stays 127.0.0.1: a server started with `netns: wan.placement`
 * listens on 169.254.x.y:P inside the namespace and the relay listens on 127.0.0.1:P outside.
 * The addresses are link-local (169.254.0.0/16, never routed), the namespace has no default route
 * and IP forwarding stays as it is in the root namespace: the bed reaches nothing beyond itself.
 *
 * The relay terminates TCP: the socket buffers of the two ends never see the delay, so the bed
 * cannot show the effect of TCP buffer sizes. A new connection costs about half a round trip less
 * than over real TCP (the relay opens its upstream connection one RTT after the client's).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { register, unregister, type Disposable } from './cleanup.js';
import { run } from './util.js';

export interface WanOptions {
  /** Round-trip time the relay adds (half each way). 0: no delay. */
  rttMs: number;
  /** Link rate shaped on both veth ends, in Mbit/s. 0 or undefined: not shaped. */
  bandwidthMbit?: number;
}

/** Where a sandbox server runs when it runs behind the test bed: what its start needs to know. */
export interface NetnsPlacement {
  /** `ip netns exec <netns> …` starts a process inside the namespace. */
  readonly netns: string;
  /** The namespace's end of the veth: servers listen here besides their own loopback. */
  readonly address: string;
  /** The root namespace's end: connections through the relay arrive from this address. */
  readonly peerAddress: string;
  /** Makes 127.0.0.1:port in the root namespace reach address:port through the relay. */
  expose(port: number): Promise<void>;
  /** The argv that runs `argv` inside the namespace. */
  wrap(argv: string[]): string[];
}

/** What the relay saw, to check that it delays what it should and no more. */
export interface RelayStats {
  connections: number;
  bytesToSource: number;
  bytesFromSource: number;
  chunks: number;
  /** How late a chunk left the relay beyond its due time (event-loop delay): the bed's error. */
  maxLateMs: number;
  meanLateMs: number;
}

export interface LinkMeasurement {
  /** Median of echo round trips through the relay and the shaped link. */
  rttMs: number;
  /** An echo of a bulk transfer: what one TCP stream gets through the link. */
  mbit: number;
}

export interface WanBed {
  readonly name: string;
  readonly rttMs: number;
  readonly bandwidthMbit: number;
  readonly placement: NetnsPlacement;
  stats(): RelayStats;
  /** Measures the link as a client sees it (echo server inside the namespace). */
  measure(bulkBytes?: number): Promise<LinkMeasurement>;
  describe(): string;
  destroy(): Promise<void>;
}

/** One relayed direction: holds each chunk for `delayMs`, in order, with back-pressure. */
class DelayedPipe {
  private readonly queue: { due: number; chunk: Buffer | null }[] = [];
  private timer?: NodeJS.Timeout;
  private open = false;
  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly delayMs: number,
    private readonly onChunk: (bytes: number, lateMs: number) => void,
  ) {
    from.on('data', (c: Buffer) => this.push(c));
    from.on('end', () => this.push(null));
  }
  /** The far end is connected: start forwarding what is due. */
  start(): void {
    this.open = true;
    this.flush();
  }
  stop(): void {
    clearTimeout(this.timer);
    this.queue.length = 0;
  }
  private push(chunk: Buffer | null): void {
    this.queue.push({ due: performance.now() + this.delayMs, chunk });
    this.schedule();
  }
  private schedule(): void {
    if (this.timer || !this.open || !this.queue.length) return;
    this.timer = setTimeout(() => this.flush(), Math.max(0, this.queue[0].due - performance.now()));
  }
  private flush(): void {
    this.timer = undefined;
    if (!this.open) return;
    const now = performance.now();
    while (this.queue.length && this.queue[0].due <= now + 0.5) {
      const { due, chunk } = this.queue.shift()!;
      if (chunk === null) {
        this.to.end();
        continue;
      }
      this.onChunk(chunk.length, Math.max(0, now - due));
      if (!this.to.write(chunk) && !this.from.isPaused()) {
        this.from.pause();
        this.to.once('drain', () => this.from.resume());
      }
    }
    this.schedule();
  }
}

class Relay {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  constructor(
    private readonly upstream: { host: string; port: number },
    private readonly oneWayMs: number,
    private readonly stats: RelayStats & { lateSum: number },
  ) {
    this.server = net.createServer((client) => this.accept(client));
  }
  listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
  }
  private accept(client: net.Socket): void {
    this.stats.connections++;
    client.setNoDelay(true);
    const upstream = new net.Socket();
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    }
    const count = (dir: 'bytesToSource' | 'bytesFromSource') => (bytes: number, late: number) => {
      this.stats[dir] += bytes;
      this.stats.chunks++;
      this.stats.lateSum += late;
      if (late > this.stats.maxLateMs) this.stats.maxLateMs = late;
    };
    const up = new DelayedPipe(client, upstream, this.oneWayMs, count('bytesToSource'));
    const down = new DelayedPipe(upstream, client, this.oneWayMs, count('bytesFromSource'));
    const fail = () => {
      up.stop();
      down.stop();
      client.destroy();
      upstream.destroy();
    };
    client.on('error', fail);
    upstream.on('error', fail);
    client.on('close', () => setTimeout(() => upstream.end(), this.oneWayMs).unref());
    upstream.on('close', () => setTimeout(() => client.end(), this.oneWayMs).unref());
    // The handshake of a real connection costs a round trip before data can flow.
    setTimeout(() => {
      if (client.destroyed) return;
      upstream.connect(this.upstream.port, this.upstream.host, () => {
        upstream.setNoDelay(true);
        up.start();
        down.start();
      });
    }, 2 * this.oneWayMs);
  }
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** Echo server run inside the namespace with this Node binary: the bed's own probe. */
const ECHO_SCRIPT = `require('net').createServer(s=>s.pipe(s)).listen(Number(process.argv[2]),process.argv[1],()=>console.log('ready'))`;
const ECHO_PORT = 7;

class WanBedImpl implements WanBed, Disposable {
  readonly placement: NetnsPlacement;
  private readonly relays: Relay[] = [];
  private readonly st = { connections: 0, bytesToSource: 0, bytesFromSource: 0, chunks: 0, maxLateMs: 0, meanLateMs: 0, lateSum: 0 };
  echo?: ChildProcess;
  private destroyed = false;
  constructor(
    readonly name: string,
    readonly vethRoot: string,
    readonly vethNs: string,
    readonly hostAddress: string,
    readonly nsAddress: string,
    readonly rttMs: number,
    readonly bandwidthMbit: number,
  ) {
    this.placement = {
      netns: name,
      address: nsAddress,
      peerAddress: hostAddress,
      expose: (port) => this.expose(port, port),
      wrap: (argv) => ['ip', 'netns', 'exec', name, ...argv],
    };
  }
  async expose(localPort: number, nsPort: number): Promise<void> {
    const relay = new Relay({ host: this.nsAddress, port: nsPort }, this.rttMs / 2, this.st);
    await relay.listen(localPort);
    this.relays.push(relay);
  }
  stats(): RelayStats {
    const { lateSum, ...rest } = this.st;
    return { ...rest, meanLateMs: this.st.chunks ? lateSum / this.st.chunks : 0 };
  }
  describe(): string {
    const bw = this.bandwidthMbit ? `${this.bandwidthMbit} Mbit/s` : 'unshaped';
    return `WAN test bed ${this.name}: RTT ${this.rttMs} ms (delaying relay), ${bw} (tc htb on ${this.vethRoot}/${this.vethNs}), source at ${this.nsAddress}`;
  }
  async measure(bulkBytes = 4 * 1024 * 1024): Promise<LinkMeasurement> {
    const port = await this.echoPort();
    const rtts: number[] = [];
    const sock = net.connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    try {
      const reader = new EchoReader(sock);
      await reader.roundTrip(Buffer.from('x')); // the upstream connect
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        await reader.roundTrip(Buffer.from('ping'));
        rtts.push(performance.now() - t);
      }
      const t = performance.now();
      await reader.roundTrip(Buffer.alloc(bulkBytes, 0x5a));
      rtts.sort((a, b) => a - b);
      // The echo starts coming back one round trip after the first byte left.
      const secs = Math.max(0.001, (performance.now() - t - rtts[2]) / 1000);
      return { rttMs: rtts[2], mbit: (bulkBytes * 8) / 1e6 / secs };
    } finally {
      sock.destroy();
    }
  }
  private echoPortP?: Promise<number>;
  private echoPort(): Promise<number> {
    this.echoPortP ??= (async () => {
      this.echo = spawn('ip', ['netns', 'exec', this.name, process.execPath, '-e', ECHO_SCRIPT, this.nsAddress, String(ECHO_PORT)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      await new Promise<void>((resolve, reject) => {
        let err = '';
        this.echo!.stderr!.on('data', (c: Buffer) => (err += c.toString()));
        this.echo!.stdout!.once('data', () => resolve());
        this.echo!.once('exit', (code) => reject(new Error(`the test bed's echo probe exited with ${code}: ${err}`)));
      });
      const srv = net.createServer();
      const port = await new Promise<number>((r) => srv.listen(0, '127.0.0.1', () => r((srv.address() as net.AddressInfo).port)));
      await new Promise((r) => srv.close(r));
      await this.expose(port, ECHO_PORT);
      return port;
    })();
    return this.echoPortP;
  }
  killSync(): void {
    this.echo?.kill('SIGKILL');
    // Processes still inside the namespace (servers a test left behind) would keep it alive.
    try {
      const pids = execFileSync('ip', ['netns', 'pids', this.name], { encoding: 'utf8' }).split(/\s+/).filter(Boolean);
      for (const p of pids) {
        try {
          process.kill(Number(p), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    } catch {
      /* no such namespace */
    }
    for (const args of [
      ['netns', 'del', this.name],
      ['link', 'del', this.vethRoot],
    ])
      try {
        execFileSync('ip', args, { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
  }
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    unregister(this);
    await Promise.all(this.relays.map((r) => r.close()));
    // Deleting the namespace deletes its veth end, which takes the peer and both qdiscs with it.
    this.killSync();
  }
}

/** Reads an echo back: resolves once as many bytes came back as were sent. */
class EchoReader {
  private pending = 0;
  private wake?: () => void;
  constructor(private readonly sock: net.Socket) {
    sock.on('data', (c: Buffer) => {
      this.pending -= c.length;
      if (this.pending <= 0) this.wake?.();
    });
  }
  roundTrip(buf: Buffer): Promise<void> {
    this.pending += buf.length;
    const done = new Promise<void>((r) => (this.wake = r));
    this.sock.write(buf);
    return done;
  }
}

/** 169.254.a.b/30 pairs not on any interface yet (169.254.169.254 is left alone: clouds use it). */
async function pickSubnet(): Promise<{ host: string; ns: string }> {
  const used = await run('ip', ['-4', '-o', 'addr', 'show']);
  for (let i = 0; i < 50; i++) {
    const a = 1 + Math.floor(Math.random() * 254);
    if (a === 169) continue;
    const b = 4 * Math.floor(Math.random() * 63);
    const host = `169.254.${a}.${b + 1}`;
    const ns = `169.254.${a}.${b + 2}`;
    if (!used.includes(`169.254.${a}.${b + 1}/`) && !used.includes(`169.254.${a}.${b + 2}/`)) return { host, ns };
  }
  throw new Error('no free 169.254.x.y/30 for the WAN test bed');
}

/** htb with one class: the whole device at `mbit`. GSO packets are fine with htb (tbf drops them). */
function shape(ipPrefix: string[], dev: string, mbit: number): Promise<string>[] {
  const tc = (args: string[]) => run(ipPrefix.length ? 'ip' : 'tc', ipPrefix.length ? [...ipPrefix, 'tc', ...args] : args);
  return [
    tc(['qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '10']).then(() =>
      tc(['class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', `${mbit}mbit`, 'ceil', `${mbit}mbit`]),
    ),
  ];
}

export async function startWan(opts: WanOptions): Promise<WanBed> {
  if (!(opts.rttMs >= 0)) throw new Error(`WAN test bed: rttMs must be 0 or more, got ${opts.rttMs}`);
  if (opts.bandwidthMbit !== undefined && !(opts.bandwidthMbit >= 0))
    throw new Error(`WAN test bed: bandwidthMbit must be 0 or more, got ${opts.bandwidthMbit}`);
  if (process.getuid?.() !== 0) throw new Error('the WAN test bed needs root (ip netns, veth, tc)');
  const id = randomBytes(3).toString('hex');
  const { host, ns } = await pickSubnet();
  const bed = new WanBedImpl(`zdm-wan-${id}`, `zw${id}r`, `zw${id}n`, host, ns, opts.rttMs, opts.bandwidthMbit ?? 0);
  register(bed);
  try {
    const inNs = ['netns', 'exec', bed.name];
    await run('ip', ['netns', 'add', bed.name]);
    await run('ip', ['link', 'add', bed.vethRoot, 'type', 'veth', 'peer', 'name', bed.vethNs, 'netns', bed.name]);
    await run('ip', ['addr', 'add', `${host}/30`, 'dev', bed.vethRoot]);
    await run('ip', ['link', 'set', bed.vethRoot, 'up']);
    await run('ip', [...inNs, 'ip', 'addr', 'add', `${ns}/30`, 'dev', bed.vethNs]);
    await run('ip', [...inNs, 'ip', 'link', 'set', bed.vethNs, 'up']);
    await run('ip', [...inNs, 'ip', 'link', 'set', 'lo', 'up']);
    if (bed.bandwidthMbit > 0) await Promise.all([...shape([], bed.vethRoot, bed.bandwidthMbit), ...shape(inNs, bed.vethNs, bed.bandwidthMbit)]);
    return bed;
  } catch (e) {
    await bed.destroy();
    throw new Error(`WAN test bed did not start: ${(e as Error).message}`, { cause: e });
  }
}
