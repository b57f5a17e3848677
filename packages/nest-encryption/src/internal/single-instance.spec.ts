import { join } from 'node:path';
import { claimSingleInstance } from './single-instance';

describe('claimSingleInstance: one copy of the library per process', () => {
  const sources = join('/app', 'packages', 'nest-encryption', 'src');
  const build = join('/app', 'packages', 'nest-encryption', 'dist');

  it('records the first copy, and lets the same copy load again (jest.resetModules)', () => {
    const registry = {};
    claimSingleInstance(sources, registry);
    expect(() => claimSingleInstance(sources, registry)).not.toThrow();
  });

  it('refuses a second copy from elsewhere (its sources beside its build, or two installs), naming both', () => {
    const registry = {};
    claimSingleInstance(sources, registry);
    expect(() => claimSingleInstance(build, registry)).toThrow(
      `@vault-pii/nest-encryption: two copies loaded: ${sources}, ${build}.`,
    );
  });

  it('was claimed by this copy when it loaded, in the process-wide registry', () => {
    expect(
      (globalThis as Record<symbol, unknown>)[
        Symbol.for('@vault-pii/nest-encryption')
      ],
    ).toBe(join(__dirname, '..'));
    expect(() => claimSingleInstance(join(__dirname, '..'))).not.toThrow();
    expect(() => claimSingleInstance(build)).toThrow('two copies loaded');
  });
});
