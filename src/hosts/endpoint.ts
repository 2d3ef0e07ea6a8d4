/**
 * One side of the migration as the steps and engines see it, resolved once from the inputs at the
 * edge (runStep): the URL the user gave, the URL a client on the runner dials (the same one, or the
 * local end of an SSH forward), and a label for messages that carries no credentials.
 */

import { RoundTrips } from './round-trips.js';

export type Side = 'source' | 'target';

/** How the runner reaches a side's server. */
export type Reach = { kind: 'direct' } | { kind: 'ssh-forward'; /** host:port of the SSH server the forward goes through. */ via: string };

export interface Endpoint {
  side: Side;
  /** The input the URL came from: what a message tells the user to fix. */
  input: 'source-url' | 'target-url';
  /** The URL as the user gave it: what a server (not the runner) connects to, e.g. a replica to its source. */
  given: URL;
  /** What a client on the runner dials: `given`, or the local end of an SSH forward to it. */
  connectUrl: URL;
  reach: Reach;
  /** For messages, without credentials: e.g. "the source (db1.example:5432)". */
  label: string;
  /** Every query, connection and SSH command zdm sends this side (the switch reports those inside its window). */
  trips?: RoundTrips;
}

/** The server's default port for a URL's scheme. */
export function defaultPortOf(url: URL): number {
  return url.protocol.startsWith('postgres') ? 5432 : 3306;
}

/** host and port of a URL, the brackets of an IPv6 literal removed, the scheme's default port filled in. */
export function addressOf(url: URL): { host: string; port: number } {
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || defaultPortOf(url)) };
}

/** host:port of a URL as written (IPv6 literals keep their brackets), never its credentials. */
export function hostPortText(url: URL): string {
  return `${url.hostname}:${url.port || defaultPortOf(url)}`;
}

export function directEndpoint(side: Side, given: URL): Endpoint {
  return {
    side,
    input: `${side}-url`,
    given,
    connectUrl: given,
    reach: { kind: 'direct' },
    label: `the ${side} (${hostPortText(given)})`,
    trips: new RoundTrips(),
  };
}

/** The same side reached through a local forward at 127.0.0.1:`localPort` over the SSH server `via`. */
export function forwardedEndpoint(direct: Endpoint, localPort: number, via: string): Endpoint {
  const connectUrl = new URL(direct.given.href);
  connectUrl.hostname = '127.0.0.1';
  connectUrl.port = String(localPort);
  return { ...direct, connectUrl, reach: { kind: 'ssh-forward', via } };
}

/** Both sides reached directly (a step without SSH, or a test that builds its own context). */
export function directEndpoints(urls: { sourceUrl?: URL; targetUrl: URL }): { source?: Endpoint; target: Endpoint } {
  return { source: urls.sourceUrl && directEndpoint('source', urls.sourceUrl), target: directEndpoint('target', urls.targetUrl) };
}

/**
 * A lost-server or connection message's name for the side: "the source (source-url, db1:5432 through
 * the SSH connection to bastion:22)"; `name` is the step's name for it (rollback: "the new primary").
 */
export function describeEndpoint(e: Endpoint, name = `the ${e.side}`): string {
  const ssh = e.reach.kind === 'ssh-forward' ? ` through the SSH connection to ${e.reach.via}` : '';
  return `${name} (${e.input}, ${hostPortText(e.given)}${ssh})`;
}

/** A context built by hand (a test, a benchmark) given the direct endpoints of its inputs. */
export function withDirectEndpoints<T extends { inputs: { sourceUrl?: URL; targetUrl: URL } }>(c: T): T & { source?: Endpoint; target: Endpoint } {
  return { ...c, ...directEndpoints(c.inputs) };
}

/**
 * How messages name the two sides, chosen by the step that runs (cutover: "the source"; rollback,
 * the same switch the other way: "the new primary"). Engines word their messages with these, so a
 * message never needs rewording afterwards.
 */
export interface SideNames {
  /** The side the engine reads from and fences. */
  source: string;
  /** The side the engine replicates to and promotes. */
  target: string;
  /** The promoted side, after the switch. */
  newPrimary: string;
  /** The fenced side, after the switch. */
  oldSource: string;
}

export const CUTOVER_NAMES: SideNames = { source: 'the source', target: 'the target', newPrimary: 'the new primary', oldSource: 'the old source' };

/** How a step words errors about the sides: its names for them, and which engine side each URL input is. */
export interface StepSides {
  names: SideNames;
  /** The engine's side for an input (rollback: target-url is the side it fences, its `source`). */
  sideOf(input: string): Side | undefined;
}

/** Every step but rollback: source-url is the source, target-url the target. */
export const CUTOVER_SIDES: StepSides = {
  names: CUTOVER_NAMES,
  sideOf: (input) => (input === 'source-url' ? 'source' : input === 'target-url' ? 'target' : undefined),
};

/** "the source" -> "The source", for a name that starts a sentence. */
export const capitalized = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
