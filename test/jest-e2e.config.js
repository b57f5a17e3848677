// HTTP e2e tests against real PostgreSQL: DATABASE_URL's server, or an embedded one that
// support/global-setup.ts starts. Each test file creates (and drops) its own database. A second
// project runs the encryption library's own integration specs (packages/nest-encryption/test).
const { join } = require('node:path');
const {
  moduleNameMapper,
  transform,
  transformIgnorePatterns,
} = require('./support/jest-transform');

module.exports = {
  projects: [
    {
      displayName: 'e2e',
      rootDir: __dirname,
      testRegex: '.*\\.(e2e|integration)-spec\\.ts$',
      moduleFileExtensions: ['js', 'json', 'ts'],
      moduleNameMapper,
      transform,
      transformIgnorePatterns,
      testEnvironment: 'node',
      globalSetup: '<rootDir>/support/global-setup.ts',
      globalTeardown: '<rootDir>/support/global-teardown.ts',
      testTimeout: 60_000,
    },
    join(
      __dirname,
      '..',
      'packages',
      'nest-encryption',
      'jest.integration.config.js',
    ),
  ],
  testTimeout: 60_000,
};
