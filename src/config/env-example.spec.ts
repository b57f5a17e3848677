import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { loadAppConfig } from './app-config';

const ROOT = join(__dirname, '..', '..');

/** `.env.example` lists every setting the README's configuration table documents, and its values load. */
describe('.env.example', () => {
  const example = parseEnv(readFileSync(join(ROOT, '.env.example'), 'utf8'));
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const table = readme.slice(
    readme.indexOf('## Configuration'),
    readme.indexOf('### An external PostgreSQL'),
  );
  const documented = [
    ...table.matchAll(/^\| ((?:`[A-Z0-9_]+`(?: · )?)+) \|/gm),
  ].flatMap((row) =>
    [...row[1].matchAll(/`([A-Z0-9_]+)`/g)].map((match) => match[1]),
  );

  it('names exactly the variables of the README table', () => {
    expect(documented.length).toBeGreaterThan(20);
    expect(Object.keys(example).sort()).toEqual(
      [...new Set(documented)].sort(),
    );
  });

  it('holds the defaults: as a whole it is a valid configuration, equal to no configuration', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'env-example-'));
    try {
      const withExample = loadAppConfig({ ...example, DATA_DIR: dataDir });
      const withNothing = loadAppConfig({ DATA_DIR: dataDir });
      const comparable = (config: object) => ({
        ...(JSON.parse(JSON.stringify(config)) as object),
        startupWarnings: undefined,
      });
      expect(comparable(withExample)).toEqual(comparable(withNothing));
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
