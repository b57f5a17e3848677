import argon2 from 'argon2';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

/**
 * argon2id straight through the `argon2` package's native binding, for one reason: its public
 * `hash()` copies the password with `Buffer.from(password)` into Node's shared 8 KiB allocation
 * pool and never wipes that copy, so every password checked would linger in ordinary memory (a
 * core dump of a live server showed them). The binding itself copies the password and the
 * secret into vectors that argon2 wipes (`ARGON2_FLAG_CLEAR_PASSWORD | _CLEAR_SECRET`), so the
 * caller's buffer — in locked memory, wiped after — is the only other copy.
 *
 * The binding is a private interface of `argon2`, touched here only, for the versions listed;
 * any other version uses the public `hash()` (correct, with the unwiped copy) until this file is
 * checked against it. `argon2-raw.spec.ts` checks both give the same output.
 */
const CHECKED_VERSIONS = /^0\.44\./;

interface Argon2Binding {
  hash(options: {
    password: Buffer;
    salt: Buffer;
    secret: Buffer;
    data: Buffer;
    hashLength: number;
    m: number;
    t: number;
    p: number;
    version: number;
    type: number;
  }): Promise<Buffer>;
}

export interface RawArgon2idOptions {
  salt: Buffer;
  secret: Buffer;
  hashLength: number;
  memoryKiB: number;
  iterations: number;
  parallelism: number;
}

const ARGON2_VERSION_13 = 0x13;

let binding: Argon2Binding | null | undefined;

/** The native binding when this is a checked version of `argon2`, else `null`. */
export function argon2Binding(): Argon2Binding | null {
  if (binding === undefined) {
    binding = null;
    try {
      // argon2's own view of its package: its version, and the node-gyp-build it loads the binding with.
      const packageJson = require.resolve('argon2/package.json');
      const requireFromArgon2 = createRequire(packageJson);
      const { version } = requireFromArgon2(packageJson) as { version: string };
      if (CHECKED_VERSIONS.test(version)) {
        const gypBuild = requireFromArgon2('node-gyp-build') as (
          dir: string,
        ) => Argon2Binding;
        const loaded = gypBuild(dirname(packageJson));
        if (typeof loaded.hash === 'function') binding = loaded;
      }
    } catch {
      binding = null;
    }
  }
  return binding;
}

/** Raw argon2id of `password` (the caller's buffer, which this neither keeps nor copies into shared memory). */
export function rawArgon2id(
  password: Buffer,
  options: RawArgon2idOptions,
): Promise<Buffer> {
  const native = argon2Binding();
  if (!native) {
    return argon2.hash(password, {
      type: argon2.argon2id,
      raw: true,
      salt: options.salt,
      secret: options.secret,
      hashLength: options.hashLength,
      memoryCost: options.memoryKiB,
      timeCost: options.iterations,
      parallelism: options.parallelism,
    });
  }
  return warmUp(native).then(() =>
    native.hash({
      password,
      salt: options.salt,
      secret: options.secret,
      data: Buffer.alloc(0),
      hashLength: options.hashLength,
      m: options.memoryKiB,
      t: options.iterations,
      p: options.parallelism,
      version: ARGON2_VERSION_13,
      type: argon2.argon2id,
    }),
  );
}

let warmedUp: Promise<void> | undefined;

/**
 * One throw-away hash (random inputs, the smallest cost) before the first real one. The first
 * call of each library function from the binding goes through the dynamic linker's lazy binding,
 * whose `_dl_runtime_resolve_xsavec` saves every vector register on the worker thread's stack;
 * during a real hash, argon2's output is in those registers (its final `free()`), and the saved
 * copy stayed in the core dump of a live server (test/core-dump.e2e-spec.ts). After this, every
 * symbol the binding uses is bound. A failure here is left to the real call to report.
 */
function warmUp(native: Argon2Binding): Promise<void> {
  warmedUp ??= native
    .hash({
      password: randomBytes(16),
      salt: randomBytes(16),
      secret: randomBytes(32),
      data: Buffer.alloc(0),
      hashLength: 32,
      m: 8,
      t: 1,
      p: 1,
      version: ARGON2_VERSION_13,
      type: argon2.argon2id,
    })
    .then(
      () => undefined,
      () => undefined,
    );
  return warmedUp;
}
