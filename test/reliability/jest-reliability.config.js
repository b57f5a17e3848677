// The reliability suite (npm run test:reliability): its own PostgreSQL cluster, redis-server and
// app process, load, faults, a fuzzer and a soak. Not part of npm test (test/jest-e2e.config.js
// matches *.e2e-spec.ts and *.integration-spec.ts only). docs/operations.md#reliability-suite
const {
  moduleNameMapper,
  transform,
  transformIgnorePatterns,
} = require('../support/jest-transform');

module.exports = {
  rootDir: '.',
  testRegex: '.*\\.reliability-spec\\.ts$',
  moduleFileExtensions: ['js', 'json', 'ts'],
  moduleNameMapper,
  transform,
  transformIgnorePatterns,
  testEnvironment: 'node',
  // Each scenario sets its own bound; this is the ceiling of one.
  testTimeout: 15 * 60_000,
};
