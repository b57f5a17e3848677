import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/**
 * The repository stands on its own: code, tests and the README cite the project's `docs/`
 * (`docs/http-api.md#request-bodies`), never a document outside it, and every cited document and
 * heading exists. A renamed heading fails here, not in a reader's browser.
 */
const ROOT = join(__dirname, '..');

function filesUnder(dir: string, suffixes: string[]): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory())
      return entry.name === 'node_modules' || entry.name === 'results'
        ? []
        : filesUnder(path, suffixes);
    return suffixes.some((suffix) => entry.name.endsWith(suffix)) ? [path] : [];
  });
}

const CITING_FILES = [
  ...['src', 'test', 'bench'].flatMap((dir) =>
    filesUnder(join(ROOT, dir), ['.ts', '.js']),
  ),
  ...filesUnder(join(ROOT, 'docs'), ['.md']),
  join(ROOT, 'README.md'),
];

/** GitHub's anchor for a Markdown heading. */
export function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  const outsideCode = markdown.replace(/^```[\s\S]*?^```/gm, '');
  return new Set(
    [...outsideCode.matchAll(/^#{1,6}[ \t]+(.+?)[ \t]*#*$/gm)].map((match) =>
      headingAnchor(match[1]),
    ),
  );
}

/** "SPEC" and "§" joined at run time, so that this file does not cite it itself. */
const SPEC_CITATION = new RegExp(`(^|\\W)${'SPEC'} §`, 'm');

interface Citation {
  file: string;
  document: string;
  anchor?: string;
}

/** `docs/<file>.md#<heading>` anywhere; in docs/ itself, also relative links `(<file>.md#<heading>)`. */
function citationsIn(file: string): Citation[] {
  const text = readFileSync(file, 'utf8');
  const inDocs = !relative(join(ROOT, 'docs'), file).includes(sep);
  const found: Citation[] = [];
  for (const match of text.matchAll(
    /\bdocs\/([a-z0-9-]+\.md)(?:#([a-z0-9_-]+))?/g,
  ))
    found.push({ file, document: match[1], anchor: match[2] });
  if (inDocs)
    for (const match of text.matchAll(
      /\]\(([a-z0-9-]+\.md)(?:#([a-z0-9_-]+))?\)/g,
    ))
      found.push({ file, document: match[1], anchor: match[2] });
  return found;
}

describe('documentation links', () => {
  const citations = CITING_FILES.flatMap(citationsIn);

  it('finds the citations (the check below is not vacuous)', () => {
    expect(citations.length).toBeGreaterThan(100);
    expect(headingAnchor('Keys in memory')).toBe('keys-in-memory');
    expect(headingAnchor('Stopping: signals and process managers')).toBe(
      'stopping-signals-and-process-managers',
    );
  });

  it('every cited document and heading exists in docs/', () => {
    const anchors = new Map<string, Set<string> | undefined>();
    const broken = citations.filter(({ document, anchor }) => {
      if (!anchors.has(document)) {
        const path = join(ROOT, 'docs', document);
        anchors.set(
          document,
          existsSync(path) ? anchorsOf(readFileSync(path, 'utf8')) : undefined,
        );
      }
      const known = anchors.get(document);
      return !known || (anchor !== undefined && !known.has(anchor));
    });
    expect(
      broken.map(
        ({ file, document, anchor }) =>
          `${relative(ROOT, file)}: docs/${document}${anchor ? `#${anchor}` : ''}`,
      ),
    ).toEqual([]);
  });

  it('nothing cites the product specification outside the repository', () => {
    const citing = CITING_FILES.filter((file) =>
      SPEC_CITATION.test(readFileSync(file, 'utf8')),
    ).map((file) => relative(ROOT, file));
    expect(citing).toEqual([]);
  });
});
