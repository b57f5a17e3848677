// One compiler for every Jest run: SWC, with the settings `npm start` uses (.swcrc), so tests
// compile TypeScript in milliseconds; `npm run typecheck` (first step of `npm test`) type-checks.
//
// Nest 12's packages are ES modules. Node 20.19+ and 22.12+ load them from CommonJS through
// require(esm), but Jest runs modules in its own loader, which loads ES modules from require()
// only on Node 24.9+. On older Node these packages are compiled to CommonJS by SWC too (Jest's
// documented route for ESM-only dependencies); on 24.9+ they load natively.
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

const [major, minor] = process.versions.node.split('.').map(Number);
const jestRequiresEsmNatively = major > 24 || (major === 24 && minor >= 9);

// ESM-only packages the app or its tests load (`@nestjs/throttler` is CommonJS).
const esmOnlyPackages = [
  '@nestjs/(?!throttler/)',
  'file-type/',
  'strtok3/',
  'token-types/',
  '@tokenizer/',
  '@borewit/',
  'uint8array-extras/',
];

module.exports = {
  transform: {
    '^.+\\.ts$': ['@swc/jest', { ...typescriptOptions, swcrc: false }],
    ...(jestRequiresEsmNatively
      ? {}
      : { '^.+\\.js$': ['@swc/jest', { ...ecmascriptOptions, swcrc: false }] }),
  },
  transformIgnorePatterns: jestRequiresEsmNatively
    ? ['/node_modules/']
    : [`/node_modules/(?!(${esmOnlyPackages.join('|')}))`],
};
