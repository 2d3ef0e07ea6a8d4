/** Where steps report what they do: the Actions log, a terminal, or a test's buffer. */
export interface Log {
  info(message: string): void;
  warn(message: string): void;
  /** Runs `fn` inside a collapsible section (Actions) or under a heading (terminal). */
  group<T>(title: string, fn: () => Promise<T>): Promise<T>;
  /** Registers a value that must be masked wherever it would be printed. */
  secret(value: string): void;
}

/** A Log that masks registered secrets itself before writing lines to `write`. */
export class TextLog implements Log {
  private readonly secrets = new Set<string>();
  constructor(
    private readonly write: (line: string) => void = (l) => process.stderr.write(l + '\n'),
    private readonly prefix = '',
  ) {}
  mask(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('***');
    return out;
  }
  info(message: string): void {
    this.write(this.mask(this.prefix + message));
  }
  warn(message: string): void {
    this.write(this.mask(`${this.prefix}warning: ${message}`));
  }
  async group<T>(title: string, fn: () => Promise<T>): Promise<T> {
    this.info(`== ${title}`);
    return fn();
  }
  secret(value: string): void {
    if (value) this.secrets.add(value);
  }
}

/** Throttles progress lines to one every `everyMs`, always letting the first and last through. */
export class Progress {
  private last = 0;
  constructor(
    private readonly log: Log,
    private readonly everyMs = 10_000,
  ) {}
  report(line: string, force = false): void {
    const now = Date.now();
    if (!force && this.last !== 0 && now - this.last < this.everyMs) return;
    this.last = now;
    this.log.info(line);
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return 'unknown';
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/**
 * "<done> of <total>, <rate>/s, ETA <t>" for a copy under way. Rate and ETA appear only after the
 * first second: a rate from the first few kilobytes predicts hours for a copy of seconds.
 */
export function transferProgress(done: number, total: number, startedAt: number, approximate = false): string {
  const secs = (Date.now() - startedAt) / 1000;
  const head = `${formatBytes(done)} of ${approximate ? 'about ' : ''}${formatBytes(total)}`;
  if (secs < 1 || done <= 0) return head;
  const rate = done / secs;
  return `${head}, ${formatBytes(rate)}/s, ETA ${formatSeconds(Math.max(0, total - done) / rate)}`;
}
