// The library's specs on real PostgreSQL (test/**/NAME.integration-spec.ts, NAME.e2e-spec.ts):
// DATABASE_URL's server, or an embedded one that the test kit's jestGlobalSetup starts. Run alone
// with `npx jest --config packages/nest-encryption/jest.integration.config.js`, or as a project
// of the root's test/jest-e2e.config.js (`npm run test:e2e`, part of `npm test`).
const {
  moduleNameMapper,
  transform,
  transformIgnorePatterns,
} = require('../../test/support/jest-transform');

module.exports = {
  displayName: 'nest-encryption:integration',
  rootDir: __dirname,
  roots: ['<rootDir>/test'],
  testRegex: '.*\\.(e2e|integration)-spec\\.ts$',
  moduleFileExtensions: ['js', 'json', 'ts'],
  moduleNameMapper,
  transform,
  transformIgnorePatterns,
  testEnvironment: 'node',
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60_000,
};
