/**
 * A small client for GitHub's REST API: GET with the job's token, at GITHUB_API_URL (GitHub
 * Enterprise Server, or a test's stand-in), a bounded wait, and errors that say what failed
 * without the token.
 */

export interface RestAnswer<T> {
  status: number;
  body: T;
}

/** Reads from GitHub's REST API; `base` is GITHUB_API_URL (https://api.github.com by default). */
export class GitHubRest {
  constructor(
    private readonly token: string,
    readonly base: string = process.env.GITHUB_API_URL || 'https://api.github.com',
    private readonly timeoutMs = 15_000,
  ) {}

  /** GET `path`; a network failure or timeout throws, an HTTP error status is returned with its body. */
  async get<T>(path: string): Promise<RestAnswer<T | { message?: string }>> {
    const url = `${this.base.replace(/\/+$/, '')}${path}`;
    const headers: Record<string, string> = { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'zdm' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(this.timeoutMs) });
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = { message: text.slice(0, 200) };
    }
    return { status: res.status, body: body as T };
  }
}
