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

/**
 * The encryption library ships its code, README and docs/ in its package: its citations name its
 * own `README.md#…` and `docs/*.md#…`, resolved in the package, never the repository's docs/.
 */
const LIBRARY = join(ROOT, 'packages', 'nest-encryption');
const LIBRARY_CITING_FILES = [
  ...['src', 'test'].flatMap((dir) =>
    filesUnder(join(LIBRARY, dir), ['.ts', '.js']),
  ),
  ...filesUnder(join(LIBRARY, 'docs'), ['.md']),
  join(LIBRARY, 'README.md'),
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
  /** The cited file, relative to the repository. */
  document: string;
  anchor?: string;
}

/**
 * In the repository's files, `docs/<file>.md#<heading>` anywhere (also the library's
 * `packages/nest-encryption/docs/…` and `…/README.md#…`); in docs/ itself, also relative links
 * `(<file>.md#<heading>)`.
 */
function citationsIn(file: string): Citation[] {
  const text = readFileSync(file, 'utf8');
  const inDocs = !relative(join(ROOT, 'docs'), file).includes(sep);
  const found: Citation[] = [];
  for (const match of text.matchAll(
    /(packages\/nest-encryption\/)?\b(docs\/[a-z0-9-]+\.md|README\.md)(?:#([a-z0-9_-]+))?/g,
  )) {
    if (match[1])
      found.push({ file, document: match[1] + match[2], anchor: match[3] });
    else if (match[2] !== 'README.md')
      found.push({ file, document: match[2], anchor: match[3] });
  }
  if (inDocs)
    for (const match of text.matchAll(
      /\]\(([a-z0-9-]+\.md)(?:#([a-z0-9_-]+))?\)/g,
    ))
      found.push({ file, document: `docs/${match[1]}`, anchor: match[2] });
  return found;
}

/** In the library's files: its `README.md#…` and `docs/<file>.md#…`, and relative links in its docs/. */
function libraryCitationsIn(file: string): Citation[] {
  const text = readFileSync(file, 'utf8');
  const inDocs = !relative(join(LIBRARY, 'docs'), file).includes(sep);
  const inLibrary = (path: string) => relative(ROOT, join(LIBRARY, path));
  const found: Citation[] = [];
  for (const match of text.matchAll(
    /\b(docs\/[a-z0-9-]+\.md|README\.md)(?:#([a-z0-9_-]+))?/g,
  ))
    found.push({ file, document: inLibrary(match[1]), anchor: match[2] });
  if (inDocs)
    for (const match of text.matchAll(
      /\]\(((?:\.\.\/)?[A-Za-z0-9-]+\.md)(?:#([a-z0-9_-]+))?\)/g,
    ))
      found.push({
        file,
        document: relative(ROOT, join(LIBRARY, 'docs', match[1])),
        anchor: match[2],
      });
  return found;
}

/** The citations whose document or heading does not exist, as `file: document#anchor`. */
function brokenCitations(citations: Citation[]): string[] {
  const anchors = new Map<string, Set<string> | undefined>();
  return citations
    .filter(({ document, anchor }) => {
      if (!anchors.has(document)) {
        const path = join(ROOT, document);
        anchors.set(
          document,
          existsSync(path) ? anchorsOf(readFileSync(path, 'utf8')) : undefined,
        );
      }
      const known = anchors.get(document);
      return !known || (anchor !== undefined && !known.has(anchor));
    })
    .map(
      ({ file, document, anchor }) =>
        `${relative(ROOT, file)}: ${document}${anchor ? `#${anchor}` : ''}`,
    );
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
    expect(brokenCitations(citations)).toEqual([]);
  });

  it("the library's files cite its own README and docs/, and each cited heading exists", () => {
    const libraryCitations = LIBRARY_CITING_FILES.flatMap(libraryCitationsIn);
    expect(libraryCitations.length).toBeGreaterThan(20);
    expect(brokenCitations(libraryCitations)).toEqual([]);
  });

  it('nothing cites the product specification outside the repository', () => {
    const citing = [...CITING_FILES, ...LIBRARY_CITING_FILES]
      .filter((file) => SPEC_CITATION.test(readFileSync(file, 'utf8')))
      .map((file) => relative(ROOT, file));
    expect(citing).toEqual([]);
  });
});
