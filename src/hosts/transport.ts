/**
 * How a step reaches the source: directly, or through SSH. With SSH, zdm's own SQL goes through a
 * local forward that lives as long as the step (the source endpoint's connectUrl), and `sourceHost`
 * runs commands on the source host.
 */
import { addressOf, directEndpoints, forwardedEndpoint, type Endpoint } from './endpoint.js';
import type { Inputs } from '../inputs.js';
import type { Log } from '../log.js';
import { formatBytes } from '../log.js';
import { openForward, type Forward } from './forward.js';
import type { Host } from './host.js';
import { LocalHost } from './local.js';
import { SshHost } from './ssh-host.js';
import { connectSsh, parseSshHost, type SshConnection, type SshOptions } from './ssh.js';
import { startSupervisedTunnel, stopSupervisedTunnel, type TunnelSpec } from './supervised-tunnel.js';

export interface SshContext {
  options: SshOptions;
  /** The source database as the SSH host sees it (source-url's host and port). */
  dbAddress: { host: string; port: number };
  connection: SshConnection;
}

export interface Transport {
  /** Undefined for a step without source-url. */
  source?: Endpoint;
  target: Endpoint;
  sourceHost: Host;
  ssh?: SshContext;
  close(): Promise<void>;
}

export function sshOptions(inputs: Inputs): SshOptions {
  const { host, port } = parseSshHost(inputs.sourceSshHost);
  return {
    host,
    port,
    user: inputs.sourceSshUser,
    privateKey: inputs.sourceSshKey,
    passphrase: inputs.sourceSshPassphrase || undefined,
    hostKey: inputs.sourceSshHostKey || undefined,
    insecureAnyHostKey: inputs.sourceSshInsecureAcceptAnyHostKey,
  };
}

export async function openTransport(inputs: Inputs, log: Log): Promise<Transport> {
  const direct = directEndpoints(inputs);
  if (!inputs.sourceSshHost || !direct.source) return { ...direct, sourceHost: new LocalHost(), close: async () => undefined };
  const options = sshOptions(inputs);
  const connection = await connectSsh(options, log);
  connection.trips = direct.source.trips;
  const dbAddress = addressOf(direct.source.given);
  let forward: Forward;
  try {
    forward = await openForward({ connection: () => connection, dest: dbAddress, onError: (m) => log.warn(`SSH tunnel: ${m}`) });
  } catch (e) {
    connection.close();
    throw e;
  }
  log.info(
    `reaching the source through SSH ${connection.label} (cipher ${connection.cipher}): SQL to ${dbAddress.host}:${dbAddress.port} via 127.0.0.1:${forward.port}`,
  );
  return {
    // source-url itself stays as given: a server that must reach the source (a replica) never dials the runner's forward.
    source: forwardedEndpoint(direct.source, forward.port, `${options.host}:${options.port}`),
    target: direct.target,
    sourceHost: new SshHost(connection),
    ssh: { options, dbAddress, connection },
    close: async () => {
      await forward.close();
      connection.close();
      if (forward.bytes.in + forward.bytes.out > 0) log.info(`SSH tunnel carried ${formatBytes(forward.bytes.in)} in, ${formatBytes(forward.bytes.out)} out`);
    },
  };
}

export function replicationTunnelName(inputs: Pick<Inputs, 'replicationTunnelPort'>): string {
  return `replication-${inputs.replicationTunnelPort}`;
}

/** Starts (or keeps) the supervised tunnel the target's server replicates through; returns its address. */
export async function ensureReplicationTunnel(ssh: SshContext, inputs: Inputs, log: Log): Promise<string> {
  const { privateKey, passphrase, ...rest } = ssh.options;
  const spec: TunnelSpec = {
    name: replicationTunnelName(inputs),
    dir: inputs.tunnelDir,
    listenPort: inputs.replicationTunnelPort,
    ssh: rest,
    dest: ssh.dbAddress,
  };
  await startSupervisedTunnel(spec, { privateKey, passphrase }, log);
  return `127.0.0.1:${inputs.replicationTunnelPort}`;
}

/**
 * Later steps make sure the replication tunnel still runs (a reboot, an OOM kill or a cleanup may
 * have ended it between jobs) and start it again with the same spec if not.
 */
export async function keepReplicationTunnel(ctx: { ssh?: SshContext; inputs: Inputs; log: Log }): Promise<void> {
  if (!ctx.ssh || ctx.inputs.sourceReplicationAddress) return;
  await ensureReplicationTunnel(ctx.ssh, ctx.inputs, ctx.log);
}

export function stopReplicationTunnel(inputs: Inputs): Promise<boolean> {
  return stopSupervisedTunnel(inputs.tunnelDir, replicationTunnelName(inputs));
}
