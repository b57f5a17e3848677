// Unit specs live beside the code: src/**/NAME.spec.ts
const {
  transform,
  transformIgnorePatterns,
} = require('./test/support/jest-transform');

module.exports = {
  rootDir: 'src',
  testRegex: '.*\\.spec\\.ts$',
  moduleFileExtensions: ['js', 'json', 'ts'],
  transform,
  transformIgnorePatterns,
  testEnvironment: 'node',
  // npm run test:cov: coverage of the unit specs over src/, written to ./coverage.
  coverageDirectory: '<rootDir>/../coverage',
  collectCoverageFrom: [
    '**/*.ts',
    '!**/*.spec.ts',
    '!main.ts',
    '!database/migrations/**',
  ],
};
