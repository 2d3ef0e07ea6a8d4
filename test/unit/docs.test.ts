/** The documentation holds together: every relative link resolves, and the README stays a first page. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

/** Every Markdown file of the documentation: README.md, CONTRIBUTING.md and all of docs/. */
function docFiles(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.md') ? [path.join(dir, e.name)] : [],
    );
  return ['README.md', 'CONTRIBUTING.md', ...walk('docs')];
}

/** The targets of a Markdown file's relative links, outside code blocks, without their #anchor. */
function relativeLinks(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '');
  const targets = [...prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]);
  return targets.filter((t) => !/^([a-z][a-z0-9+.-]*:|#)/i.test(t)).map((t) => decodeURIComponent(t.split('#')[0]));
}

describe('documentation', () => {
  it('finds the links of a page, and only the relative ones', () => {
    const md = '[a](docs/x.md#part) [b](https://example.com) [c](#here) [d](../y.md)\n```\n[e](z.md)\n```\n';
    expect(relativeLinks(md)).toEqual(['docs/x.md', '../y.md']);
  });

  for (const file of docFiles()) {
    it(`every relative link in ${file} points at an existing file`, () => {
      const broken = relativeLinks(readFileSync(file, 'utf8')).filter((t) => !existsSync(path.join(path.dirname(file), t)));
      expect(broken, `broken links in ${file}`).toEqual([]);
    });
  }

  it('the README is a first page: at most 300 lines, details in docs/', () => {
    const lines = readFileSync('README.md', 'utf8').split('\n').length;
    expect(lines).toBeLessThanOrEqual(300);
    expect(docFiles().filter((f) => f.startsWith('docs')).length).toBeGreaterThanOrEqual(3);
  });
});
