import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MIGRATIONS } from './data-source-options';

/**
 * A migration file that is not in `MIGRATIONS` never runs: the app and the CLI read that list, not
 * the folder (docs/adding-an-encrypted-entity.md#the-migration).
 */
const FOLDER = join(__dirname, 'migrations');
const files = readdirSync(FOLDER)
  .filter((name) => name.endsWith('.ts'))
  .sort();

/** `1795773554304-CreateUsersAndDataKeys.ts` → `CreateUsersAndDataKeys1795773554304`. */
function expectedClassName(file: string): string {
  const match = /^(\d{13})-(\w+)\.ts$/.exec(file);
  if (!match)
    throw new Error(`${file} is not named <13-digit timestamp>-<Name>.ts`);
  return `${match[2]}${match[1]}`;
}

describe('src/database/migrations and MIGRATIONS', () => {
  it('reads the folder (the checks below are not vacuous)', () => {
    expect(files.length).toBeGreaterThanOrEqual(7);
    expect(files).toContain('1795773554304-CreateUsersAndDataKeys.ts');
  });

  it.each(files)(
    '%s exports its migration class, and MIGRATIONS lists it',
    (file) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const exported = Object.values(require(join(FOLDER, file)) as object);
      expect(
        exported.map((value) => (value as { name?: string }).name),
      ).toEqual([expectedClassName(file)]);
      expect(MIGRATIONS).toContain(exported[0]);
    },
  );

  it('lists each migration once, oldest first, and nothing that is not in the folder', () => {
    expect(MIGRATIONS.map((migration) => migration.name)).toEqual(
      files.map(expectedClassName),
    );
  });
});
