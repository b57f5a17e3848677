// See global-setup.ts.
export { jestGlobalTeardown as default } from '../../src/testing/test-postgres';
