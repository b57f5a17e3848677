import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const PROJECT_ROOT = join(__dirname, '..', '..');
const LIBRARY_ROOT = join(PROJECT_ROOT, 'packages', 'nest-encryption');

/** Newest modification time of the compiled sources under `dir` (`.ts`, without specs). */
export function newestSourceTime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceTime(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts'))
      newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Rebuilds the encryption library (packages/nest-encryption/dist) when a source file or a build
 * setting is newer than its build, and resolves with what it did. Tests load the library's
 * sources (Jest's moduleNameMapper), but the processes they start (the app under ts-node or
 * compiled, the CLIs) load its build: without this, the two could differ. `javascript` is the
 * quick SWC build (`npm run build:dev`), enough to run; `declarations` the tsc build the app's
 * own `nest build` type-checks against.
 */
export function ensureLibraryBuild(
  needs: 'javascript' | 'declarations',
): 'reused' | 'built' {
  const sources = Math.max(
    newestSourceTime(join(LIBRARY_ROOT, 'src')),
    ...[
      join(LIBRARY_ROOT, 'tsconfig.json'),
      join(LIBRARY_ROOT, 'tsconfig.build.json'),
      join(PROJECT_ROOT, 'tsconfig.base.json'),
      join(PROJECT_ROOT, '.swcrc'),
    ].map((file) => statSync(file).mtimeMs),
  );
  const output = join(
    LIBRARY_ROOT,
    'dist',
    needs === 'javascript' ? 'index.js' : 'index.d.ts',
  );
  if (existsSync(output) && statSync(output).mtimeMs > sources) return 'reused';
  execFileSync(
    'npm',
    [
      'run',
      '--silent',
      needs === 'javascript' ? 'build:dev' : 'build',
      '-w',
      '@vault-pii/nest-encryption',
    ],
    { cwd: PROJECT_ROOT, stdio: 'pipe', timeout: 180_000 },
  );
  if (!existsSync(output))
    throw new Error(`building the encryption library did not write ${output}`);
  return 'built';
}
