import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';

/**
 * README "Generate a client": test/client/api-schema.d.ts holds the types openapi-typescript makes
 * of docs/openapi.json (`npm run openapi:client`, the same generator, the same defaults), and
 * test/generated-client.e2e-spec.ts drives the API through them. Stale types would let the
 * typecheck pass against a document the API no longer serves: a change of docs/openapi.json
 * fails here until the types are regenerated, and then fails `npm run typecheck` wherever the
 * flow no longer fits.
 */
const ROOT = join(__dirname, '..');
const DOCUMENT = join(ROOT, 'docs', 'openapi.json');
const TYPES = join(ROOT, 'test', 'client', 'api-schema.d.ts');

describe('the generated client types (test/client/api-schema.d.ts)', () => {
  it('are what openapi-typescript makes of docs/openapi.json now', async () => {
    const generated =
      COMMENT_HEADER +
      astToString(await openapiTS(pathToFileURL(DOCUMENT), { silent: true }));
    const committed = readFileSync(TYPES, 'utf8');
    const committedLines = committed.split('\n');
    const generatedLines = generated.split('\n');
    const firstDifference = generatedLines.findIndex(
      (line, index) => line !== committedLines[index],
    );
    // A message, not a diff of two 4,000-line files.
    expect(
      committed === generated
        ? 'up to date'
        : `stale from line ${(firstDifference === -1 ? generatedLines.length : firstDifference) + 1}: run npm run openapi:client`,
    ).toBe('up to date');
  }, 30_000);
});
