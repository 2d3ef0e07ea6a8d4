/** Where commands and files of a server live: this machine, or (later) a host reached over SSH. */
export interface RunOptions {
  /** Run as this OS user (the data directory's owner, say). */
  user?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Called with each chunk of output as it arrives. */
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

/** A running command whose stdin/stdout carry a data stream (a backup on its way). */
export interface Spawned {
  stdin: NodeJS.WritableStream;
  stdout: NodeJS.ReadableStream;
  /** Resolves when the command exits; `stdout` of the result is empty (it was the stream). */
  done: Promise<RunResult>;
  kill(): void;
}

/** A command made ready ahead of time: `run` starts it, `cancel` drops it unrun. */
export interface Prepared {
  run(): Promise<RunResult>;
  cancel(): void;
}

export interface Host {
  readonly name: string;
  /**
   * Makes `command` ready to start at once (a remote shell waiting for a go), so that a command
   * inside the write-blocked window costs no channel open and no session start. Hosts where
   * starting is cheap (this machine) have none: callers fall back to shell().
   */
  prepareShell?(command: string, opts?: RunOptions): Promise<Prepared>;
  run(argv: string[], opts?: RunOptions): Promise<RunResult>;
  /** Starts a command with its stdin and stdout as streams. */
  spawn(argv: string[], opts?: Omit<RunOptions, 'onStdout'>): Promise<Spawned>;
  /** Runs a command line with /bin/sh -c. */
  shell(command: string, opts?: RunOptions): Promise<RunResult>;
  readFile(path: string): Promise<string>;
  writeFile(path: string, data: string, opts: { mode: number; owner?: OsUser }): Promise<void>;
  exists(path: string): Promise<boolean>;
  rename(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  /** The owner of `path`, or of its nearest existing parent. */
  ownerOf(path: string): Promise<OsUser>;
  /** Whether `user` may create and delete entries in the directory `dir`. */
  canWrite(dir: string, user: OsUser): Promise<boolean>;
  freeBytes(path: string): Promise<number>;
  memoryBytes(): Promise<number>;
  cpuCount(): Promise<number>;
}

/** Keeps only the last `limit` characters of a growing output. */
export class Tail {
  private text = '';
  constructor(private readonly limit = 64 * 1024) {}
  add(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.limit * 2) this.text = this.text.slice(-this.limit);
  }
  toString(): string {
    return this.text.length > this.limit ? this.text.slice(-this.limit) : this.text;
  }
}

/** The last non-empty lines of a command's output, for error messages. */
export function lastLines(text: string, n = 5): string {
  return text
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-n)
    .join(' | ');
}
