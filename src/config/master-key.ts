import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const MASTER_KEY_BYTES = 32;
export const DEV_MASTER_KEY_FILE = 'master.key';

export type MasterKeySource = 'environment' | 'development-file';

export type MasterKeyResolution =
  | { key: Buffer; source: MasterKeySource; warning?: string }
  | { problem: string };

const BASE64_32_BYTES = /^[A-Za-z0-9+/]{43}=$/;
const HOW_TO_GENERATE = 'generate one with `openssl rand -base64 32`';

/**
 * SPEC §1: `APP_MASTER_KEY` (base64, 32 bytes) when set; in production it is required and must
 * look random. In development and test, a key is generated once under `dataDir` (mode 0600)
 * and reused, with a warning, so a restart keeps every wrapped key readable.
 */
export function resolveMasterKey(input: {
  encoded: string | undefined;
  nodeEnv: string;
  dataDir: string;
}): MasterKeyResolution {
  const encoded = input.encoded?.trim();
  if (encoded) {
    const key = decodeMasterKey(encoded);
    if (!key) return { problem: `must be ${MASTER_KEY_BYTES} bytes, base64-encoded; ${HOW_TO_GENERATE}` };
    if (input.nodeEnv === 'production' && looksNonRandom(key)) {
      key.fill(0);
      return { problem: `looks like a placeholder, not random bytes; ${HOW_TO_GENERATE}` };
    }
    return { key, source: 'environment' };
  }
  if (input.nodeEnv === 'production') {
    return { problem: `is required when NODE_ENV=production; ${HOW_TO_GENERATE}` };
  }
  return loadOrCreateDevelopmentKey(input.dataDir);
}

function decodeMasterKey(encoded: string): Buffer | undefined {
  if (!BASE64_32_BYTES.test(encoded)) return undefined;
  const key = Buffer.from(encoded, 'base64');
  return key.length === MASTER_KEY_BYTES ? key : undefined;
}

/** Catches the usual placeholders (all zeros, a repeated character, a short pattern). */
function looksNonRandom(key: Buffer): boolean {
  return new Set(key).size < MASTER_KEY_BYTES / 2;
}

function loadOrCreateDevelopmentKey(dataDir: string): MasterKeyResolution {
  const path = join(dataDir, DEV_MASTER_KEY_FILE);
  const warning =
    `APP_MASTER_KEY is not set: using the development key in ${path}. ` +
    'Every wrapped key depends on it; set APP_MASTER_KEY in production.';
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    try {
      const encoded = randomBytes(MASTER_KEY_BYTES).toString('base64');
      // 'wx' fails if the file exists, so two processes starting at once agree on one key.
      writeFileSync(path, `${encoded}\n`, { mode: 0o600, flag: 'wx' });
      return { key: Buffer.from(encoded, 'base64'), source: 'development-file', warning };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    const key = decodeMasterKey(readFileSync(path, 'utf8').trim());
    if (!key) return { problem: `the development key file ${path} is corrupt; delete it only if no data depends on it` };
    return { key, source: 'development-file', warning };
  } catch (error) {
    return { problem: `is not set and the development key file ${path} cannot be used (${(error as Error).message})` };
  }
}
