import { createHash, createHmac } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  deriveBlindIndexKey,
  unwrapDataKey,
  Argon2Params,
  derivePasswordMasterKey,
  hkdfSha256,
  PasswordKdfSecrets,
  passwordKdfVersion,
  deriveRecoveryKek,
} from '@vault-pii/nest-encryption/crypto';
import { deriveServerSecrets } from '../../src/crypto/server-secrets';
import { deriveSessionKey } from '@vault-pii/nest-encryption';
import type { Needle } from './core-dump';
import { decodeJwt } from './jwt-forge';
import { withPgClient } from './test-database';

/**
 * Every key a server process has held, recomputed outside it from what the test knows (the
 * master key, the user's password and recovery codes, the tokens the server issued, the rows and
 * files it wrote), as byte patterns to look for in a core dump of that process.
 */

/**
 * How the master key reaches the app. The core-dump test takes one as a parameter, so that it
 * can move to another source (`APP_MASTER_KEY_SEALED` through PKCS#11) with a one-line change.
 */
export interface MasterKeySource {
  name: string;
  /** NODE_ENV the source works under (the development key file is refused in production). */
  nodeEnv: 'production' | 'development';
  /** Writes whatever files the source needs under `dir` and returns the app's variables. */
  provide(
    masterKey: Buffer,
    dir: string,
    dataDir: string,
  ): Record<string, string>;
}

/**
 * `APP_MASTER_KEY_FILE`: a file holding the key in base64
 * (docs/operations.md#the-master-key-three-sources).
 */
export const MASTER_KEY_FILE: MasterKeySource = {
  name: 'APP_MASTER_KEY_FILE',
  nodeEnv: 'production',
  provide(masterKey, dir) {
    const path = join(dir, 'app-master-key');
    writeFileSync(path, `${masterKey.toString('base64')}\n`, { mode: 0o600 });
    return { APP_MASTER_KEY_FILE: path };
  },
};

/** The development key `DATA_DIR/master.key` (not allowed with NODE_ENV=production). */
export const DEVELOPMENT_KEY_FILE: MasterKeySource = {
  name: 'DATA_DIR/master.key (development)',
  nodeEnv: 'development',
  provide(masterKey, _dir, dataDir) {
    writeFileSync(
      join(dataDir, 'master.key'),
      `${masterKey.toString('base64')}\n`,
      { mode: 0o600 },
    );
    return {};
  },
};

/** `APP_MASTER_KEY` in the environment: its text stays in the process's initial environment block. */
export const MASTER_KEY_ENVIRONMENT: MasterKeySource = {
  name: 'APP_MASTER_KEY',
  nodeEnv: 'production',
  provide: (masterKey) => ({ APP_MASTER_KEY: masterKey.toString('base64') }),
};

/** Whether the compiled app at `distDir` knows `APP_MASTER_KEY_FILE` yet. */
export function masterKeyFileSupported(distDir: string): boolean {
  try {
    return readFileSync(
      join(distDir, 'config', 'master-key.js'),
      'utf8',
    ).includes('APP_MASTER_KEY_FILE');
  } catch {
    return false;
  }
}

/** A key to look for, and in which encodings. */
export interface ProcessKey {
  label: string;
  bytes: Buffer;
  /** Text forms besides the raw bytes (e.g. the base64 the key was configured in). */
  text?: string[];
  /** Reported, never a failure (e.g. the JWT key, which OpenSSL holds in ordinary memory). */
  expectedLeak?: string;
}

/**
 * Needles for `keys`: the raw bytes, each given text form, and both 16-byte halves of the raw
 * bytes (a freed malloc chunk keeps its second half after the allocator wrote its list pointers
 * over the first).
 */
export function needlesFor(keys: readonly ProcessKey[]): Needle[] {
  const needles: Needle[] = [];
  for (const key of keys) {
    needles.push({ key: key.label, form: 'raw', bytes: key.bytes });
    for (const text of key.text ?? [])
      needles.push({
        key: key.label,
        form: `text ${text.slice(0, 6)}…`,
        bytes: Buffer.from(text, 'latin1'),
      });
    if (key.bytes.length >= 32) {
      needles.push({
        key: key.label,
        form: 'first half',
        bytes: key.bytes.subarray(0, 16),
      });
      needles.push({
        key: key.label,
        form: 'second half',
        bytes: key.bytes.subarray(key.bytes.length - 16),
      });
    }
  }
  return needles;
}

const copy = (buffer: Buffer) => Buffer.from(buffer);

/**
 * The password KDF's server secrets of every master key `serverKeys()` was asked about, by the
 * pepper's hex: so that `userKeys(…, pepper)`, as first written, finds the argon2-output key too.
 */
const kdfSecretsByPepper = new Map<string, PasswordKdfSecrets>();

/** The server secrets the password KDF takes (pepper, argon2-output key), as ordinary copies. */
export function passwordKdfSecrets(masterKey: Buffer): PasswordKdfSecrets {
  const secrets = deriveServerSecrets(masterKey);
  const kdfSecrets = {
    pepper: copy(secrets.pepper),
    argon2OutputKey: copy(secrets.argon2OutputKey),
  };
  kdfSecretsByPepper.set(kdfSecrets.pepper.toString('hex'), kdfSecrets);
  return kdfSecrets;
}

/** The master key and every server secret derived from it (docs/crypto.md#key-hierarchy). */
export function serverKeys(masterKey: Buffer): ProcessKey[] {
  const secrets = deriveServerSecrets(masterKey);
  passwordKdfSecrets(masterKey);
  const jwt = hkdfSha256(masterKey, 'server/jwt-hs256');
  return [
    {
      label: 'master key',
      bytes: copy(masterKey),
      text: [masterKey.toString('base64')],
    },
    { label: 'server secret: argon2 pepper', bytes: copy(secrets.pepper) },
    {
      label: 'server secret: argon2-output key',
      bytes: copy(secrets.argon2OutputKey),
    },
    {
      label: 'server secret: blind-index key',
      bytes: copy(secrets.blindIndexKey),
    },
    { label: 'server secret: vault key', bytes: copy(secrets.vaultKey) },
    {
      label: 'server secret: rate-limit key',
      bytes: copy(secrets.rateLimitKey),
    },
    {
      label: 'server secret: idempotency key',
      bytes: copy(secrets.idempotencyKey),
    },
    {
      label: 'server secret: JWT HS256 key',
      bytes: copy(jwt),
      expectedLeak:
        'a node:crypto KeyObject: OpenSSL keeps its bytes in ordinary memory (documented)',
    },
  ];
}

/** What the test knows of one account, and the secrets the server made for it. */
export interface AccountSecrets {
  userId: string;
  password: string;
  /** Every recovery code the account had, each with the salt it was wrapped under. */
  recoveryCodes: { code: string; salt: Buffer }[];
}

interface UserRow {
  kdf_salt: Buffer;
  kdf_params: Argon2Params;
  recovery_salt: Buffer;
}

/** The account's current salts (read them before a rotation replaces the recovery salt). */
export async function readUserRow(
  databaseUrl: string,
  userId: string,
): Promise<UserRow> {
  return withPgClient(databaseUrl, async (pg) => {
    const { rows } = await pg.query(
      'SELECT kdf_salt, kdf_params, recovery_salt FROM users WHERE id = $1',
      [userId],
    );
    if (rows.length !== 1) throw new Error(`no users row for ${userId}`);
    return rows[0] as UserRow;
  });
}

/**
 * The user's password-derived keys, the data key of every version stored now, and the per-user
 * keys derived from each data key (blind-index keys, document file keys of the files under
 * `documentsDir`). Call it at every point where a version may vanish (before a rotation's job
 * deletes the old one).
 *
 * The password keys follow the account's stored KDF version (`kdf_params.version`, library crypto/kdf.ts):
 * - version 2: the argon2id output is listed apart, as an expected find ("harmless without the
 *   argon2-output key": argon2's reference code leaves it in the vector registers of the
 *   threadpool thread that ran it, and the `argon2` binding in a result vector it frees unwiped);
 *   the master key (HMAC of that output), the auth key and the KEK must not be found;
 * - version 1: the argon2id output is the master key, and must not be found.
 *
 * `kdfSecrets`: the pepper and argon2-output key (`passwordKdfSecrets(masterKey)`), or the pepper
 * alone, as the first callers pass it, when `serverKeys()` was called with the same master key.
 */
export async function userKeys(
  databaseUrl: string,
  account: AccountSecrets,
  kdfSecrets: PasswordKdfSecrets | Buffer,
  documentsDir?: string,
): Promise<ProcessKey[]> {
  const secrets = Buffer.isBuffer(kdfSecrets)
    ? kdfSecretsByPepper.get(kdfSecrets.toString('hex'))
    : kdfSecrets;
  if (!secrets)
    throw new Error(
      'userKeys: pass passwordKdfSecrets(masterKey), or call serverKeys(masterKey) before passing its pepper',
    );
  const user = await readUserRow(databaseUrl, account.userId);
  const rows = await withPgClient(
    databaseUrl,
    async (pg) =>
      (
        await pg.query(
          'SELECT key_version, wrapped_by_password FROM user_data_keys WHERE user_id = $1 ORDER BY key_version',
          [account.userId],
        )
      ).rows as { key_version: number; wrapped_by_password: Buffer }[],
  );
  const version = passwordKdfVersion(user.kdf_params);
  // argon2id's output is version 1's master key; version 2's is recomputed here with node:crypto.
  const argon2Output = copy(
    await derivePasswordMasterKey(
      account.password,
      user.kdf_salt,
      { ...user.kdf_params, version: 1 },
      secrets,
    ),
  );
  const passwordMasterKey =
    version === 1
      ? argon2Output
      : createHmac('sha256', secrets.argon2OutputKey)
          .update(argon2Output)
          .digest();
  const kek = hkdfSha256(passwordMasterKey, 'password/kek');
  const authKey = hkdfSha256(passwordMasterKey, 'password/auth');
  const keys: ProcessKey[] =
    version === 1
      ? [
          {
            label: 'password master key (argon2id output, KDF version 1)',
            bytes: copy(passwordMasterKey),
          },
        ]
      : [
          {
            label: 'argon2 output (harmless without the argon2-output key)',
            bytes: copy(argon2Output),
            expectedLeak:
              'KDF version 2: argon2 leaves its output in threadpool registers and freed heap; the master key is its HMAC under a key in locked memory',
          },
          {
            label:
              'password master key (HMAC of the argon2 output, KDF version 2)',
            bytes: copy(passwordMasterKey),
          },
        ];
  keys.push(
    { label: 'password auth key', bytes: copy(authKey) },
    { label: 'password KEK', bytes: copy(kek) },
  );
  const files = documentsDir ? documentSalts(documentsDir) : [];
  for (const row of rows) {
    const dataKey = unwrapDataKey(row.wrapped_by_password, kek, {
      userId: account.userId,
      keyVersion: row.key_version,
      wrappedBy: 'password',
    });
    keys.push({
      label: `data key v${row.key_version}`,
      bytes: copy(dataKey),
      text: [dataKey.toString('base64'), dataKey.toString('hex')],
    });
    for (const purpose of ['contacts.email', 'contacts.phone']) {
      keys.push({
        label: `blind-index key ${purpose} v${row.key_version}`,
        bytes: copy(deriveBlindIndexKey(dataKey, purpose)),
      });
    }
    for (const file of files.filter((f) => f.keyVersion === row.key_version)) {
      keys.push({
        label: `document file key ${file.name.slice(0, 8)}… v${row.key_version}`,
        bytes: copy(
          hkdfSha256(
            dataKey,
            `document-stream/${file.algorithm}`,
            32,
            file.salt,
          ),
        ),
      });
    }
  }
  for (const { code, salt } of account.recoveryCodes) {
    keys.push({
      label: `recovery KEK (code ${code.slice(0, 4)}…)`,
      bytes: copy(deriveRecoveryKek(code, salt, secrets.pepper)),
    });
  }
  return keys;
}

/** The file salt, algorithm and key version of every document file (their 70-byte headers). */
function documentSalts(
  dir: string,
): { name: string; algorithm: number; keyVersion: number; salt: Buffer }[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith('.vpd'));
  } catch {
    return [];
  }
  return names.map((name) => {
    const header = readFileSync(join(dir, name)).subarray(0, 70);
    return {
      name,
      algorithm: header[5],
      keyVersion: header.readUInt32BE(6),
      salt: Buffer.from(header.subarray(14, 46)),
    };
  });
}

/**
 * The key that seals the vault entry of the session an access token belongs to:
 * HKDF(vaultKey, "vault/session/" + hex SHA-256(sid), salt = client share).
 */
export function sessionKey(
  label: string,
  accessToken: string,
  vaultKey: Buffer,
): ProcessKey {
  const { payload } = decodeJwt(accessToken);
  const sid = Buffer.from(payload.sid as string, 'base64url');
  const clientShare = Buffer.from(payload.cs as string, 'base64url');
  const sessionId = createHash('sha256').update(sid).digest('hex');
  return {
    label,
    bytes: copy(deriveSessionKey(vaultKey, sessionId, clientShare)),
  };
}
