// Jest loads this outside its module registry (no moduleNameMapper): the kit's file by path, from
// source, which loads no entry (and so claims no single instance in Jest's own process).
export { jestGlobalSetup as default } from '../../src/testing/test-postgres';
