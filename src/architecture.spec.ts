import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/**
 * The import graph's rules (issue 14), read from the sources themselves: a forbidden import fails
 * here, in `npm test`, before review. Relative imports only (packages are not ours to layer).
 */
const SRC = __dirname;

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

describe('import rules', () => {
  it('reads the graph (the rules below are not vacuous)', () => {
    expect(imports.length).toBeGreaterThan(300);
    expect(imports).toContainEqual({
      from: join('main.ts'),
      to: 'app.setup',
    });
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

  it('auth imports from key-rotation only where it still did when issue 14 began (to be removed)', () => {
    // A ratchet: the vault's "keyring unlocked" hook will take these away; none may be added.
    const remaining = imports
      .filter(
        ({ from, to }) => area(from) === 'auth' && area(to) === 'key-rotation',
      )
      .map(({ from, to }) => `${from} -> ${to}`)
      .sort();
    expect(remaining).toEqual(
      [
        `auth${sep}account-flows.service.ts -> key-rotation${sep}key-rotation.job`,
        `auth${sep}auth.module.ts -> key-rotation${sep}key-rotation-job.module`,
        `auth${sep}auth.module.ts -> key-rotation${sep}key-rotation.entity`,
        `auth${sep}guards${sep}jwt.strategy.ts -> key-rotation${sep}key-rotation.job`,
      ].sort(),
    );
  });
});
