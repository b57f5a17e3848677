import { dirname } from 'node:path';

/**
 * The library keeps per-process state in module scope (`KeyContext`'s AsyncLocalStorage, the
 * blind-index and owner registries, TypeORM's patched prototypes, the secure-memory budget). Two
 * loaded copies would each hold their own and fail quietly: keys set in one context unseen by the
 * other, guards installed on a TypeORM the app does not use. So the first copy records where its
 * code lives, and a second one from elsewhere refuses to load.
 */
const LOADED_FROM = Symbol.for('@vault-pii/nest-encryption');

type Registry = { [LOADED_FROM]?: string };

/**
 * Records `codeRoot` (the folder of the entry files: `src` under Jest, `dist` under Node) in
 * `registry`, or throws when another copy recorded a different one. The same root again is fine:
 * `jest.resetModules()` loads the same files a second time.
 */
export function claimSingleInstance(
  codeRoot: string,
  registry: object = globalThis,
): void {
  const holder = registry as Registry;
  const loaded = holder[LOADED_FROM];
  if (loaded === undefined) {
    holder[LOADED_FROM] = codeRoot;
    return;
  }
  if (loaded !== codeRoot)
    throw new Error(
      `@vault-pii/nest-encryption: two copies loaded: ${loaded}, ${codeRoot}. ` +
        'Dedupe the package (npm ls @vault-pii/nest-encryption), and under Jest map every import ' +
        'of it through the same moduleNameMapper.',
    );
}

claimSingleInstance(dirname(__dirname));
