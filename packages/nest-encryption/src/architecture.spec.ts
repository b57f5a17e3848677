import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/**
 * The library's own import rules (docs/design.md#source-layout), read from its sources: its folders are
 * layered, it reaches nothing outside the package by a relative path, and what an entry pulls in
 * is only what that entry promises (no Nest in `./crypto`, no test kit in `.`).
 */
const PACKAGE = join(__dirname, '..');
const SRC = __dirname;

/**
 * Every folder (and file at src/'s root but `index.ts`, the composition, and specs of the whole),
 * lowest first: each imports only from those before it. A new folder must be placed here.
 */
const LAYERS = [
  'internal',
  'redis',
  'crypto',
  'errors',
  'key-vault',
  'encrypted-column',
  'rotation',
  'adoption',
  'key-hierarchy',
  'embedded-postgres',
  'cli',
  'testing',
];

/** The entries of package.json `exports` and the sources they are built from. */
const ENTRIES = [
  'index',
  'crypto/index',
  'embedded-postgres/index',
  'redis/index',
  'testing/index',
];

interface Import {
  /** Relative to the package. */
  from: string;
  specifier: string;
  /** Where a relative specifier leads, relative to the package. */
  to?: string;
  /** Loaded when the importing module loads. */
  eager: boolean;
}

const SPECIFIER =
  /(?:^|\s)(?:import|export)\s[^;]*?from\s+'([^']+)'|(?:^|\s)import\s+'([^']+)'|(?:import|require|jest\.mock|jest\.requireActual(?:<[^>]*>)?)\(\s*'([^']+)'/g;

function codeFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return codeFiles(path);
    return /\.(ts|js)$/.test(entry.name) ? [path] : [];
  });
}

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(SPECIFIER)].map((match) => {
    const specifier = match[1] ?? match[2] ?? match[3];
    return {
      from: relative(PACKAGE, file),
      specifier,
      to: specifier.startsWith('.')
        ? relative(PACKAGE, resolve(dirname(file), specifier))
        : undefined,
      // Type-only imports are erased; `import()` and `require()` calls run when called.
      eager:
        match[3] === undefined &&
        !/^\s*(?:import|export)\s+type\s/.test(match[0]),
    };
  });
}

const imports = [SRC, join(PACKAGE, 'test')].flatMap((dir) =>
  codeFiles(dir).flatMap(importsOf),
);
const isSpec = (file: string) => file.endsWith('.spec.ts');
/** Production code: what `npm run build` compiles into dist/. */
const built = imports.filter(
  ({ from }) => from.startsWith(`src${sep}`) && !isSpec(from),
);

/** The folder under src/ (or the root file's name without extension). */
function area(path: string): string {
  const [top, ...rest] = relative('src', path).split(sep);
  return rest.length > 0 ? top : top.replace(/\.[jt]s$/, '');
}

/** The source file a relative import's target names (`x` → `x.ts` or `x/index.ts`). */
function sourceFileOf(target: string): string {
  const file = `${target}.ts`;
  return existsSync(join(PACKAGE, file)) ? file : join(target, 'index.ts');
}

/** Files loaded, through relative imports of production code, when `entry` loads. */
function closureOf(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const { from, to, eager } of built)
      if (from === file && to && eager) visit(sourceFileOf(to));
  };
  visit(join('src', `${entry}.ts`));
  return seen;
}

describe('the library import rules (docs/design.md#source-layout)', () => {
  it('reads the graph (the rules below are not vacuous)', () => {
    expect(built.length).toBeGreaterThan(80);
    expect(built).toContainEqual({
      from: join('src', 'encrypted-column', 'blind-index.ts'),
      specifier: '../crypto',
      to: join('src', 'crypto'),
      eager: true,
    });
    expect(closureOf('index')).toContain(
      join('src', 'encrypted-column', 'typeorm-adapter.ts'),
    );
  });

  it('places every folder of src/ in LAYERS', () => {
    const areas = readdirSync(SRC, { withFileTypes: true })
      .map((entry) => area(join('src', entry.name)))
      .filter((name) => name !== 'index' && !name.endsWith('.spec'));
    expect(areas.filter((name) => !LAYERS.includes(name))).toEqual([]);
  });

  it('every folder imports only from itself and the folders before it in LAYERS', () => {
    const upward = imports
      .filter(
        ({ from, to }) =>
          from.startsWith(`src${sep}`) && to?.startsWith(`src${sep}`),
      )
      // The composition (index.ts) and specs at src/'s root (of the whole) may import anything.
      .filter(
        ({ from }) =>
          area(from) !== 'index' &&
          !(relative('src', from).split(sep).length === 1 && isSpec(from)),
      )
      // Specs are tests: like an app's, they may use the test kit.
      .filter(
        ({ from, to }) => !(isSpec(from) && area(to as string) === 'testing'),
      )
      .filter(
        ({ from, to }) =>
          LAYERS.indexOf(area(to as string)) > LAYERS.indexOf(area(from)),
      )
      .map(({ from, specifier }) => `${from}: '${specifier}'`);
    expect(upward).toEqual([]);
  });

  it('no relative import leaves the package, and production code imports nothing from test/', () => {
    const outside = imports
      .filter(({ to }) => to !== undefined && to.split(sep)[0] === '..')
      .map(({ from, specifier }) => `${from}: '${specifier}'`);
    expect(outside).toEqual([]);
    const fromTests = built
      .filter(({ to }) => to?.split(sep)[0] === 'test')
      .map(({ from, specifier }) => `${from}: '${specifier}'`);
    expect(fromTests).toEqual([]);
  });

  it('code outside crypto/ reaches it through its index only (one module instance, one mock point)', () => {
    const deep = imports
      .filter(
        ({ from }) => from.startsWith(`src${sep}`) && area(from) !== 'crypto',
      )
      .filter(({ to }) => to?.startsWith(join('src', 'crypto') + sep))
      .map(({ from, specifier }) => `${from}: '${specifier}'`);
    expect(deep).toEqual([]);
  });

  it('each entry loads the single-instance guard first', () => {
    const unguarded = ENTRIES.filter((entry) => {
      const file = join(SRC, `${entry}.ts`);
      const first = importsOf(file)[0]?.to;
      return first !== join('src', 'internal', 'single-instance');
    });
    expect(unguarded).toEqual([]);
  });

  it('the main and crypto entries never load the test kit or the command line', () => {
    for (const entry of ['index', 'crypto/index']) {
      const reached = [...closureOf(entry)].map(area);
      expect({
        entry,
        reached: reached.filter((name) => ['testing', 'cli'].includes(name)),
      }).toEqual({
        entry,
        reached: [],
      });
    }
  });

  it('no Nest or TypeORM in crypto/ and embedded-postgres/; @nestjs/testing and @nestjs/typeorm in testing/ only', () => {
    const frameworks = /^(@nestjs\/|typeorm)/;
    const offending = built
      .filter(
        ({ from, specifier }) =>
          (['crypto', 'embedded-postgres', 'internal'].includes(area(from)) &&
            frameworks.test(specifier)) ||
          (/^@nestjs\/(testing|typeorm)(\/|$)/.test(specifier) &&
            area(from) !== 'testing'),
      )
      .map(({ from, specifier }) => `${from}: '${specifier}'`);
    expect(offending).toEqual([]);
  });

  it('ioredis (an optional peer) is loaded only by the Redis store and its helpers', () => {
    const loaders = built
      .filter(({ specifier }) => specifier === 'ioredis')
      .filter(({ from }) => {
        const text = readFileSync(join(PACKAGE, from), 'utf8');
        return /^import (?!type )[^;]*'ioredis'/m.test(text);
      })
      .map(({ from }) => from);
    expect(loaders.sort()).toEqual([
      join('src', 'redis', 'fail-fast-redis.ts'),
    ]);
    expect([...closureOf('index')]).not.toContain(
      join('src', 'redis', 'fail-fast-redis.ts'),
    );
  });
});
