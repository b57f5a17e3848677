// HTTP e2e tests against real PostgreSQL: DATABASE_URL's server, or an embedded one that
// support/global-setup.ts starts. Each test file creates (and drops) its own database. The
// encryption library's integration tests (packages/nest-encryption/test) run here too, on the
// same server.
const {
  moduleNameMapper,
  transform,
  transformIgnorePatterns,
} = require('./support/jest-transform');

module.exports = {
  rootDir: '.',
  roots: ['<rootDir>', '<rootDir>/../packages/nest-encryption/test'],
  testRegex: '.*\\.(e2e|integration)-spec\\.ts$',
  moduleFileExtensions: ['js', 'json', 'ts'],
  moduleNameMapper,
  transform,
  transformIgnorePatterns,
  testEnvironment: 'node',
  globalSetup: '<rootDir>/support/global-setup.ts',
  globalTeardown: '<rootDir>/support/global-teardown.ts',
  testTimeout: 60_000,
};
