import { randomFillSync } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { secureAlloc, zeroBuffer } from '@vault-pii/nest-encryption/crypto';
import {
  describeFsError,
  pkcs11SettingProblems,
  Pkcs11SettingError,
  readPkcs11Settings,
} from '../hsm/pkcs11-settings';
import { openSealedMasterKey } from '../hsm/sealed-master-key';
import { decodeBase64Secret, encodeBase64Secret } from './base64-bytes';

export const MASTER_KEY_BYTES = 32;
export const DEV_MASTER_KEY_FILE = 'master.key';

/**
 * The three ways to give the master key (docs/operations.md#the-master-key-three-sources); at most
 * one may be set.
 */
export const MASTER_KEY_VARIABLES = [
  'APP_MASTER_KEY',
  'APP_MASTER_KEY_FILE',
  'APP_MASTER_KEY_SEALED',
] as const;

export type MasterKeySource =
  'environment' | 'file' | 'pkcs11' | 'development-file';

export interface MasterKeyProblem {
  variable: string;
  message: string;
}

export type MasterKeyResolution =
  | { key: Buffer; source: MasterKeySource; warning?: string }
  | { problems: MasterKeyProblem[] };

type Environment = Record<string, string | undefined>;

const BASE64_32_BYTES = /^[A-Za-z0-9+/]{43}=$/;
/** 44 base64 characters, then CRLF at most. */
const KEY_FILE_MAX_BYTES = 46;
const HOW_TO_GENERATE =
  'generate one with `openssl rand -base64 32` (or `npm run master-key -- generate`)';
const FILE_FORMAT = `must hold ${MASTER_KEY_BYTES} bytes in base64 (44 characters), optionally followed by one newline`;

/**
 * The master key (docs/operations.md#the-master-key-three-sources) from exactly one source:
 * - `APP_MASTER_KEY`: base64 in the environment (the weakest: a string that cannot be wiped, and
 *   the environment block the process started with keeps it for the process's life);
 * - `APP_MASTER_KEY_FILE`: a file holding the base64 (Docker/Kubernetes secrets), read as bytes;
 * - `APP_MASTER_KEY_SEALED`: a file sealed by a key inside an HSM/TPM (AES-GCM or RSA-OAEP), opened through
 *   PKCS#11 (`PKCS11_*` variables, see `src/hsm/`).
 * With none: in production a refusal; in development and test a key generated once under
 * `dataDir` (mode 0600) and reused, with a warning, so a restart keeps every wrapped key readable.
 *
 * @returns the key in secure memory (the caller releases it with `zeroBuffer`), or the problems,
 *   each naming a variable and never holding a secret.
 */
export function resolveMasterKey(input: {
  env: Environment;
  nodeEnv: string;
  dataDir: string;
}): MasterKeyResolution {
  const { env, nodeEnv } = input;
  const problems = masterKeySettingProblems(env, nodeEnv);
  if (problems.length > 0) return { problems };

  let resolved:
    | { key: Buffer; source: MasterKeySource; warning?: string }
    | MasterKeyProblem;
  try {
    // With no source set, production was refused above: only development and test get here.
    resolved =
      readConfiguredKey(env) ?? loadOrCreateDevelopmentKey(input.dataDir);
  } catch (error) {
    if (error instanceof Pkcs11SettingError)
      return {
        problems: [{ variable: error.variable, message: error.detail }],
      };
    throw error;
  }
  if ('variable' in resolved) return { problems: [resolved] };
  if (nodeEnv === 'production' && looksNonRandom(resolved.key)) {
    zeroBuffer(resolved.key);
    return {
      problems: [
        {
          variable: variableOf(resolved.source),
          message: `looks like a placeholder, not random bytes; ${HOW_TO_GENERATE}`,
        },
      ],
    };
  }
  return resolved;
}

/**
 * What is wrong with the master key variables, checked without reading a file or a token: one
 * source in production and at most one otherwise, `APP_MASTER_KEY`'s format, the `PKCS11_*`
 * variables a sealed key needs.
 */
export function masterKeySettingProblems(
  env: Environment,
  nodeEnv: string,
): MasterKeyProblem[] {
  const set = MASTER_KEY_VARIABLES.filter(
    (name) => setting(env, name) !== undefined,
  );
  if (set.length === 0 && nodeEnv === 'production') {
    return [
      {
        variable: 'APP_MASTER_KEY',
        message:
          'is required when NODE_ENV=production, or instead APP_MASTER_KEY_FILE (a file holding it) or ' +
          `APP_MASTER_KEY_SEALED (sealed in an HSM/TPM, with the PKCS11_* variables); ${HOW_TO_GENERATE}`,
      },
    ];
  }
  if (set.length > 1) {
    return [
      {
        variable: set.join(', '),
        message: `are ${set.length === 2 ? 'both' : 'all'} set: set only one master key source`,
      },
    ];
  }
  const encoded = setting(env, 'APP_MASTER_KEY');
  if (encoded !== undefined && !BASE64_32_BYTES.test(encoded)) {
    return [
      {
        variable: 'APP_MASTER_KEY',
        message: `must be ${MASTER_KEY_BYTES} bytes, base64-encoded; ${HOW_TO_GENERATE}`,
      },
    ];
  }
  if (setting(env, 'APP_MASTER_KEY_SEALED') !== undefined)
    return pkcs11SettingProblems(env, 'APP_MASTER_KEY_SEALED');
  return [];
}

function readConfiguredKey(
  env: Environment,
): { key: Buffer; source: MasterKeySource } | MasterKeyProblem | undefined {
  const encoded = setting(env, 'APP_MASTER_KEY');
  if (encoded !== undefined) {
    // Decoded straight into secure memory; the format was checked by masterKeySettingProblems.
    const key = secureAlloc(MASTER_KEY_BYTES);
    if (key.write(encoded, 0, 'base64') !== MASTER_KEY_BYTES) {
      zeroBuffer(key);
      return {
        variable: 'APP_MASTER_KEY',
        message: `must be ${MASTER_KEY_BYTES} bytes, base64-encoded; ${HOW_TO_GENERATE}`,
      };
    }
    return { key, source: 'environment' };
  }
  const file = setting(env, 'APP_MASTER_KEY_FILE');
  if (file !== undefined) {
    const key = readMasterKeyFile(file);
    if ('unreadable' in key)
      return {
        variable: 'APP_MASTER_KEY_FILE',
        message: `cannot read ${file} (${key.unreadable})`,
      };
    if ('malformed' in key)
      return {
        variable: 'APP_MASTER_KEY_FILE',
        message: `${file} ${FILE_FORMAT}`,
      };
    return { key: key.key, source: 'file' };
  }
  const sealed = setting(env, 'APP_MASTER_KEY_SEALED');
  if (sealed !== undefined) {
    const settings = readPkcs11Settings(env, 'APP_MASTER_KEY_SEALED');
    return { key: openSealedMasterKey(settings, sealed), source: 'pkcs11' };
  }
  return undefined;
}

/**
 * Reads a file holding a base64 key, as bytes into secure memory (never a JavaScript string),
 * and decodes it into secure memory; the bytes read are wiped at once.
 */
export function readMasterKeyFile(
  path: string,
): { key: Buffer } | { unreadable: string } | { malformed: true } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    return { unreadable: describeFsError(error) };
  }
  try {
    const key = readBase64MasterKey((buffer, offset) =>
      readSync(fd, buffer, offset, buffer.length - offset, null),
    );
    return key ? { key } : { malformed: true };
  } catch (error) {
    return { unreadable: describeFsError(error) };
  } finally {
    closeSync(fd);
  }
}

/**
 * A master key given as base64 (44 characters, then at most one newline, LF or CRLF), read
 * through `read` — which fills `buffer` from `offset` and answers how many bytes it read, 0 at
 * the end — into secure memory and decoded there; what was read is wiped at once. The key file
 * sources and `npm run master-key`'s standard input share it.
 *
 * @returns the key in secure memory (release it with `zeroBuffer`), or `undefined` when the input
 *   is not one. Errors of `read` are thrown as they come.
 */
export function readBase64MasterKey(
  read: (buffer: Buffer, offset: number) => number,
): Buffer | undefined {
  // One byte more than a valid input can hold, to tell "too long" from "exactly full".
  const content = secureAlloc(KEY_FILE_MAX_BYTES + 1);
  try {
    let length = 0;
    while (length < content.length) {
      const count = read(content, length);
      if (count === 0) break;
      length += count;
    }
    if (length > KEY_FILE_MAX_BYTES) return undefined;
    if (length > 0 && content[length - 1] === 0x0a) {
      length--;
      if (length > 0 && content[length - 1] === 0x0d) length--;
    }
    const key = decodeBase64Secret(content.subarray(0, length));
    if (key?.length === MASTER_KEY_BYTES) return key;
    zeroBuffer(key);
    return undefined;
  } finally {
    zeroBuffer(content);
  }
}

/** Catches the usual placeholders (all zeros, a repeated character, a short pattern). */
export function looksNonRandom(key: Buffer): boolean {
  return new Set(key).size < MASTER_KEY_BYTES / 2;
}

function setting(env: Environment, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function variableOf(source: MasterKeySource): string {
  switch (source) {
    case 'file':
      return 'APP_MASTER_KEY_FILE';
    case 'pkcs11':
      return 'APP_MASTER_KEY_SEALED';
    default:
      return 'APP_MASTER_KEY';
  }
}

function loadOrCreateDevelopmentKey(
  dataDir: string,
):
  { key: Buffer; source: MasterKeySource; warning: string } | MasterKeyProblem {
  const path = join(dataDir, DEV_MASTER_KEY_FILE);
  const warning =
    `APP_MASTER_KEY is not set: using the development key in ${path}. ` +
    'Every wrapped key depends on it; set APP_MASTER_KEY, APP_MASTER_KEY_FILE or APP_MASTER_KEY_SEALED in production.';
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const created = createDevelopmentKey(path);
    if (created) return { key: created, source: 'development-file', warning };
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  } catch (error) {
    return {
      variable: 'APP_MASTER_KEY',
      message: `is not set and the development key file ${path} cannot be used (${(error as Error).message})`,
    };
  }
  const read = readMasterKeyFile(path);
  if ('key' in read)
    return { key: read.key, source: 'development-file', warning };
  if ('unreadable' in read) {
    return {
      variable: 'APP_MASTER_KEY',
      message: `is not set and the development key file ${path} cannot be used (${read.unreadable})`,
    };
  }
  return {
    variable: 'APP_MASTER_KEY',
    message: `is not set and the development key file ${path} is corrupt; delete it only if no data depends on it`,
  };
}

/** A new key written to `path` (base64 and a newline, mode 0600), or `undefined` if the file exists. */
function createDevelopmentKey(path: string): Buffer | undefined {
  let fd: number;
  try {
    // 'wx' fails if the file exists, so two processes starting at once agree on one key.
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw error;
  }
  const key = secureAlloc(MASTER_KEY_BYTES);
  const encoded = encodeBase64Secret(randomFillSync(key));
  try {
    writeSync(fd, encoded);
    writeSync(fd, '\n');
    return key;
  } catch (error) {
    zeroBuffer(key);
    throw error;
  } finally {
    zeroBuffer(encoded);
    closeSync(fd);
  }
}
