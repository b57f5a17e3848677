import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/**
 * The import graph's rules (issue 14), read from the sources themselves: a forbidden import fails
 * here, in `npm test`, before review. The layers are read from relative imports; the encryption
 * library (packages/nest-encryption, layer 0 beneath every folder) from every specifier.
 */
const SRC = __dirname;
const ROOT = join(SRC, '..');

interface Import {
  from: string;
  to: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')
      ? [path]
      : [];
  });
}

const IMPORT =
  /(?:^|\s)(?:import|export)\s[^;]*?from\s+'(\.{1,2}\/[^']+)'|(?:import|require)\(\s*'(\.{1,2}\/[^']+)'\s*\)/g;

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const found: Import[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const target = resolve(dirname(file), match[1] ?? match[2]);
    found.push({ from: relative(SRC, file), to: relative(SRC, target) });
  }
  return found;
}

/** The top-level folder under src/ (a feature or infrastructure), or the file at src/'s root. */
const area = (path: string) => path.split(sep)[0];

const imports = sourceFiles(SRC).flatMap(importsOf);

/** Which folders each folder imports from (files at src/'s root, the composition, left out). */
function folderGraph(edges: Import[]): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    const [a, b] = [area(from), area(to)];
    if (a === b || !from.includes(sep) || !to.includes(sep)) continue;
    if (!graph.has(a)) graph.set(a, new Set());
    graph.get(a)!.add(b);
  }
  return graph;
}

/** Every cycle a depth-first walk meets, each as `a -> b -> … -> a` (empty for a DAG). */
function cyclesOf(graph: Map<string, Set<string>>): string[] {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const cycles: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    path.push(node);
    for (const next of [...(graph.get(node) ?? [])].sort()) {
      if (state.get(next) === 'open')
        cycles.push([...path.slice(path.indexOf(next)), next].join(' -> '));
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort())
    if (!state.has(node)) visit(node);
  return cycles;
}

/**
 * Every folder under src/, lowest first (docs/architecture.md): a folder imports only from folders
 * before it. A new folder must be placed here.
 */
const LAYERS = [
  'crypto',
  'hsm',
  'config',
  'common',
  'cli',
  'database',
  'idempotency',
  'audit',
  'users',
  'profile',
  'contacts',
  'auth',
  'documents',
  'health',
  'key-rotation',
  'me',
];

/** Every module specifier (imports, re-exports, require, jest.mock) in `file`. */
const SPECIFIER =
  /(?:^|\s)(?:import|export)\s[^;]*?from\s+'([^']+)'|(?:^|\s)import\s+'([^']+)'|(?:import|require|jest\.mock|jest\.requireActual(?:<[^>]*>)?)\(\s*'([^']+)'/g;

function specifiersOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(SPECIFIER)].map(
    (match) => match[1] ?? match[2] ?? match[3],
  );
}

/** TypeScript and JavaScript files under `dir` (node_modules and results left out), specs too. */
function codeFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory())
      return ['node_modules', 'results'].includes(entry.name)
        ? []
        : codeFiles(path);
    return /\.(ts|js)$/.test(entry.name) ? [path] : [];
  });
}

const LIBRARY = '@vault-pii/nest-encryption';
/** The library's public entries (its package.json `exports`): the only way in. */
const LIBRARY_ENTRIES = new Set([
  LIBRARY,
  `${LIBRARY}/crypto`,
  `${LIBRARY}/testing`,
  `${LIBRARY}/embedded-postgres`,
  `${LIBRARY}/redis`,
]);

/** Why `specifier` in `file` (relative to the repository) breaks the library's boundary, if it does. */
function libraryImportProblem(
  file: string,
  specifier: string,
): string | undefined {
  if (specifier.startsWith('.')) {
    const target = relative(ROOT, resolve(ROOT, dirname(file), specifier));
    return target.split(sep)[0] === 'packages'
      ? 'a relative path into packages/: import the library by its name'
      : undefined;
  }
  if (specifier !== LIBRARY && !specifier.startsWith(`${LIBRARY}/`))
    return undefined;
  if (!LIBRARY_ENTRIES.has(specifier))
    return `not one of the library's entries (${[...LIBRARY_ENTRIES].join(', ')})`;
  const testCode =
    !file.startsWith(`src${sep}`) ||
    file.endsWith('.spec.ts') ||
    file.split(sep).includes('testing');
  return specifier === `${LIBRARY}/testing` && !testCode
    ? 'the test kit in application code'
    : undefined;
}

describe('the encryption library is imported through its entries only (docs/architecture.md)', () => {
  const files = [
    ...['src', 'test', 'bench'].flatMap((dir) => codeFiles(join(ROOT, dir))),
    join(ROOT, 'ormconfig.ts'),
  ].map((file) => relative(ROOT, file));
  const uses = files.flatMap((file) =>
    specifiersOf(join(ROOT, file)).map((specifier) => ({ file, specifier })),
  );

  it('reads the imports (the check below is not vacuous)', () => {
    const entries = new Set(
      uses
        .filter(({ specifier }) => specifier.startsWith(LIBRARY))
        .map(({ specifier }) => specifier),
    );
    expect([...entries]).toEqual(
      expect.arrayContaining([
        LIBRARY,
        `${LIBRARY}/crypto`,
        `${LIBRARY}/embedded-postgres`,
      ]),
    );
    expect(
      libraryImportProblem(
        join('src', 'x.ts'),
        `${LIBRARY}/src/key-vault/keyring`,
      ),
    ).toBeDefined();
    expect(
      libraryImportProblem(
        join('test', 'x.ts'),
        '../packages/nest-encryption/src/index',
      ),
    ).toBeDefined();
    expect(
      libraryImportProblem(join('src', 'x.ts'), `${LIBRARY}/testing`),
    ).toBeDefined();
    expect(
      libraryImportProblem(join('src', 'x.spec.ts'), `${LIBRARY}/testing`),
    ).toBeUndefined();
  });

  it('no deep import, no relative path into packages/, no test kit outside tests', () => {
    const offending = uses.flatMap(({ file, specifier }) => {
      const problem = libraryImportProblem(file, specifier);
      return problem ? [`${file}: '${specifier}': ${problem}`] : [];
    });
    expect(offending).toEqual([]);
  });
});

describe('import rules', () => {
  it('reads the graph (the rules below are not vacuous)', () => {
    expect(imports.length).toBeGreaterThan(300);
    expect(imports).toContainEqual({
      from: join('main.ts'),
      to: 'app.setup',
    });
  });

  it('finds a cycle when there is one (the check below is not vacuous)', () => {
    const edge = (from: string, to: string) => ({
      from: join(from, 'x.ts'),
      to: join(to, 'y'),
    });
    expect(
      cyclesOf(folderGraph([edge('a', 'b'), edge('b', 'c'), edge('c', 'a')])),
    ).toEqual(['a -> b -> c -> a']);
    expect(cyclesOf(folderGraph([edge('a', 'b'), edge('a', 'c')]))).toEqual([]);
  });

  it('no cycle between folders: each feature depends only on those below it (docs/architecture.md)', () => {
    expect(cyclesOf(folderGraph(imports))).toEqual([]);
  });

  it('every folder imports only from the folders below it in LAYERS', () => {
    const folders = readdirSync(SRC, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    expect([...LAYERS].sort()).toEqual(folders);
    const upward = imports
      .filter(({ from, to }) => from.includes(sep) && to.includes(sep))
      .filter(
        ({ from, to }) =>
          area(from) !== area(to) &&
          LAYERS.indexOf(area(to)) > LAYERS.indexOf(area(from)),
      )
      .map(({ from, to }) => `${from} -> ${to}`);
    expect(upward).toEqual([]);
  });

  it('common/ imports nothing but common/, config/ and crypto/: no feature', () => {
    const allowed = new Set(['common', 'config', 'crypto']);
    const offending = imports.filter(
      ({ from, to }) => area(from) === 'common' && !allowed.has(area(to)),
    );
    expect(offending).toEqual([]);
  });

  it('nothing outside auth/ imports auth/guards: routes declare authentication with common/auth', () => {
    const offending = imports.filter(
      ({ from, to }) =>
        area(from) !== 'auth' && to.startsWith(join('auth', 'guards')),
    );
    expect(offending).toEqual([]);
  });

  it('nothing but main.ts imports the bootstrap file app.setup.ts', () => {
    const offending = imports.filter(
      ({ from, to }) => to === 'app.setup' && from !== 'main.ts',
    );
    expect(offending).toEqual([]);
  });

  it('auth imports nothing from key-rotation: the vault tells rotation when keys are unlocked', () => {
    const offending = imports.filter(
      ({ from, to }) => area(from) === 'auth' && area(to) === 'key-rotation',
    );
    expect(offending).toEqual([]);
  });
});
