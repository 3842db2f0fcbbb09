/** Every relative link of the documentation points at a file that exists, and at a heading that exists in it. */
import { expect, test } from 'bun:test';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

const ROOT = join(import.meta.dir, '../..');
const PAGES = ['README.md', 'SECURITY.md', 'RELIABILITY.md', 'bench/README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

const withoutCode = (s: string) => s.replace(/```[\s\S]*?```/g, '');
/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
const anchorOf = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replaceAll(' ', '-');
const anchorsOf = (path: string) => new Set([...withoutCode(readFileSync(path, 'utf8')).matchAll(/^#{1,6} (.*)$/gm)].map((m) => anchorOf(m[1]!)));

test('docs - every relative link and anchor in README, SECURITY, RELIABILITY, bench/README and docs/ resolves', () => {
  const bad: string[] = [];
  let checked = 0;
  for (const page of PAGES) {
    const text = withoutCode(readFileSync(join(ROOT, page), 'utf8'));
    for (const m of text.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)) {
      const url = m[1]!;
      if (/^[a-z]+:/.test(url)) continue;
      const [path, frag] = url.split('#') as [string, string | undefined];
      const target = path ? normalize(join(dirname(join(ROOT, page)), path)) : join(ROOT, page);
      checked++;
      if (!existsSync(target)) bad.push(`${page}: ${url} (no such file)`);
      else if (frag && target.endsWith('.md') && !anchorsOf(target).has(frag)) bad.push(`${page}: ${url} (no such heading)`);
    }
  }
  expect(checked).toBeGreaterThan(50);
  expect(bad).toEqual([]);
});
