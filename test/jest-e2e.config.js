// HTTP e2e tests against real PostgreSQL: DATABASE_URL's server, or an embedded one that
// support/global-setup.ts starts. Each test file creates (and drops) its own database.
module.exports = {
  rootDir: '.',
  testRegex: '.*\\.(e2e|integration)-spec\\.ts$',
  moduleFileExtensions: ['js', 'json', 'ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/../tsconfig.json' }] },
  testEnvironment: 'node',
  globalSetup: '<rootDir>/support/global-setup.ts',
  globalTeardown: '<rootDir>/support/global-teardown.ts',
  testTimeout: 60_000,
};
