// The library's unit specs, beside its code (src/**/NAME.spec.ts). Run alone with
// `npm test -w @vault-pii/nest-encryption`, or as a project of the root's jest.config.js.
const {
  moduleNameMapper,
  transform,
  transformIgnorePatterns,
} = require('../../test/support/jest-transform');

module.exports = {
  displayName: 'nest-encryption',
  rootDir: __dirname,
  roots: ['<rootDir>/src'],
  testRegex: '.*\\.spec\\.ts$',
  moduleFileExtensions: ['js', 'json', 'ts'],
  moduleNameMapper,
  transform,
  transformIgnorePatterns,
  testEnvironment: 'node',
};
