// One compiler for every Jest run: SWC, with the settings `npm start` uses (.swcrc), so tests
// compile TypeScript in milliseconds; `npm run typecheck` (first step of `npm test`) type-checks.
//
// Nest 12's packages are ES modules. Node 20.19+ and 22.12+ load them from CommonJS through
// require(esm), but Jest runs modules in its own loader, which cannot: its own native route
// (Node 24.9+) did not load them on Node 24.22 with Jest 30.5 ("Must use import to load ES
// Module"). So on every Node these packages are compiled to CommonJS by SWC too, Jest's
// documented route for ESM-only dependencies, and the transform is cached like any other.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const swcrc = JSON.parse(
  readFileSync(join(__dirname, '..', '..', '.swcrc'), 'utf8'),
);
const { $schema, ...typescriptOptions } = swcrc;
typescriptOptions.sourceMaps = 'inline';
const ecmascriptOptions = {
  ...typescriptOptions,
  jsc: { ...typescriptOptions.jsc, parser: { syntax: 'ecmascript' } },
};

// ESM-only packages the app or its tests load (`@nestjs/throttler` is CommonJS).
const esmOnlyPackages = [
  '@nestjs/(?!throttler/)',
  'file-type/',
  'strtok3/',
  'token-types/',
  '@tokenizer/',
  '@borewit/',
  'uint8array-extras/',
  // openapi-typescript's CommonJS build (src/generated-client-types.spec.ts) requires these; the
  // first entry lets Jest look past `node_modules/openapi-typescript/` to its own nested copies.
  'openapi-typescript/node_modules/',
  'parse-json/',
  'index-to-position/',
  'supports-color/',
  'change-case/',
];

// The encryption library (packages/nest-encryption) from its TypeScript sources, through its
// public entries only: tests never wait for its build, and every import of it in one test file
// reaches the same modules (one KeyContext, one set of TypeORM patches). Processes that tests
// start run its build instead (support/library-build.ts keeps that current).
const librarySources = join(
  __dirname,
  '..',
  '..',
  'packages',
  'nest-encryption',
  'src',
);

module.exports = {
  moduleNameMapper: {
    '^@vault-pii/nest-encryption$': join(librarySources, 'index.ts'),
    '^@vault-pii/nest-encryption/(crypto|testing|embedded-postgres|redis)$':
      join(librarySources, '$1', 'index.ts'),
  },
  transform: {
    '^.+\\.ts$': ['@swc/jest', { ...typescriptOptions, swcrc: false }],
    '^.+\\.js$': ['@swc/jest', { ...ecmascriptOptions, swcrc: false }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnlyPackages.join('|')}))`],
};
