// Unit specs live beside the code: src/**/NAME.spec.ts for the app, and the encryption library's
// own (packages/nest-encryption/src/**/NAME.spec.ts, its jest.config.js) as a second project.
const { join } = require('node:path');
const {
  moduleNameMapper,
  transform,
  transformIgnorePatterns,
} = require('./test/support/jest-transform');

module.exports = {
  projects: [
    {
      displayName: 'app',
      rootDir: join(__dirname, 'src'),
      testRegex: '.*\\.spec\\.ts$',
      moduleFileExtensions: ['js', 'json', 'ts'],
      moduleNameMapper,
      transform,
      transformIgnorePatterns,
      testEnvironment: 'node',
    },
    join(__dirname, 'packages', 'nest-encryption', 'jest.config.js'),
  ],
  // npm run test:cov: coverage of the unit specs over src/ and the library, written to ./coverage.
  coverageDirectory: join(__dirname, 'coverage'),
  collectCoverageFrom: [
    'src/**/*.ts',
    'packages/nest-encryption/src/**/*.ts',
    '!**/*.spec.ts',
    '!src/main.ts',
    '!src/database/migrations/**',
  ],
};
