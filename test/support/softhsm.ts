import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PROJECT_ROOT = join(__dirname, '..', '..');

/** Debian's SoftHSM2 (package softhsm2): a software token behind a real PKCS#11 library. */
export const SOFTHSM_MODULE =
  process.env.SOFTHSM2_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';

/** Why SoftHSM2 cannot be used here, or `undefined` when it can. */
export function softHsmMissing(): string | undefined {
  if (spawnSync('softhsm2-util', ['--version']).status !== 0)
    return 'softhsm2-util not found (Debian package softhsm2)';
  if (!existsSync(SOFTHSM_MODULE))
    return `${SOFTHSM_MODULE} not found (Debian package softhsm2, or set SOFTHSM2_MODULE)`;
  return undefined;
}

/** SoftHSM2 with its own token directory and configuration file, in a temporary directory. */
export class SoftHsm {
  readonly dir = mkdtempSync(join(tmpdir(), 'softhsm-'));
  /** The value for SOFTHSM2_CONF. */
  readonly conf = join(this.dir, 'softhsm2.conf');

  constructor() {
    mkdirSync(join(this.dir, 'tokens'));
    writeFileSync(
      this.conf,
      `directories.tokendir = ${join(this.dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`,
    );
  }

  /** A new token in the next free slot. */
  initToken(label: string, pin: string, soPin = '5678'): void {
    const result = spawnSync(
      'softhsm2-util',
      [
        '--init-token',
        '--free',
        '--label',
        label,
        '--pin',
        pin,
        '--so-pin',
        soPin,
      ],
      {
        env: { ...process.env, SOFTHSM2_CONF: this.conf },
        encoding: 'utf8',
      },
    );
    if (result.status !== 0)
      throw new Error(
        `softhsm2-util --init-token failed: ${result.stderr}${result.stdout}`,
      );
  }

  /**
   * Makes the PKCS#11 library loaded by this process (the app under test) use this token directory.
   * SoftHSM reads SOFTHSM2_CONF with getenv, from the real environment, but Jest gives each test
   * file its own copy of `process.env` that native code never sees. `process.loadEnvFile` writes to
   * the real environment (it never replaces a variable already there, hence the check).
   */
  useInThisProcess(): void {
    const file = join(this.dir, 'softhsm.env');
    writeFileSync(file, `SOFTHSM2_CONF=${this.conf}\n`);
    process.loadEnvFile(file);
    // A child started without `env` inherits the real environment: ask one what it sees.
    const seen = spawnSync(
      process.execPath,
      ['-p', 'process.env.SOFTHSM2_CONF'],
      { encoding: 'utf8' },
    ).stdout.trim();
    if (seen !== this.conf)
      throw new Error(
        `SOFTHSM2_CONF is already set in the test run's environment (${seen}): unset it to run this suite`,
      );
  }

  /**
   * An AES-256 key whose value may leave the token (CKA_EXTRACTABLE, not sensitive): the kind of
   * key `master-key seal` must refuse. Made here through pkcs11js directly (needs `useInThisProcess`).
   */
  createExtractableAesKey(
    tokenLabel: string,
    pin: string,
    keyLabel: string,
  ): void {
    this.withSession(tokenLabel, pin, (pkcs11, library, session) => {
      library.C_GenerateKey(session, { mechanism: pkcs11.CKM_AES_KEY_GEN }, [
        { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_SECRET_KEY },
        { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_AES },
        { type: pkcs11.CKA_VALUE_LEN, value: 32 },
        { type: pkcs11.CKA_LABEL, value: keyLabel },
        { type: pkcs11.CKA_TOKEN, value: true },
        { type: pkcs11.CKA_SENSITIVE, value: false },
        { type: pkcs11.CKA_EXTRACTABLE, value: true },
        { type: pkcs11.CKA_ENCRYPT, value: true },
        { type: pkcs11.CKA_DECRYPT, value: true },
      ]);
    });
  }

  /** An RSA-2048 key pair whose private key may leave the token: what seal must refuse for RSA-OAEP. */
  createExtractableRsaKeyPair(
    tokenLabel: string,
    pin: string,
    keyLabel: string,
  ): void {
    this.withSession(tokenLabel, pin, (pkcs11, library, session) => {
      library.C_GenerateKeyPair(
        session,
        { mechanism: pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN },
        [
          { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PUBLIC_KEY },
          { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_RSA },
          { type: pkcs11.CKA_LABEL, value: keyLabel },
          { type: pkcs11.CKA_TOKEN, value: true },
          { type: pkcs11.CKA_MODULUS_BITS, value: 2048 },
          { type: pkcs11.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
        ],
        [
          { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PRIVATE_KEY },
          { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_RSA },
          { type: pkcs11.CKA_LABEL, value: keyLabel },
          { type: pkcs11.CKA_TOKEN, value: true },
          { type: pkcs11.CKA_SENSITIVE, value: false },
          { type: pkcs11.CKA_EXTRACTABLE, value: true },
          { type: pkcs11.CKA_DECRYPT, value: true },
        ],
      );
    });
  }

  /**
   * The first byte of each boolean attribute (or the length of each other value) of the object
   * of `objectClass` labelled `keyLabel`, read as an auditor would, in a session of its own.
   */
  readAttributes(
    tokenLabel: string,
    pin: string,
    objectClass: 'CKO_PRIVATE_KEY' | 'CKO_SECRET_KEY',
    keyLabel: string,
    names: string[],
  ): Record<string, number> {
    return this.withSession(tokenLabel, pin, (pkcs11, library, session) => {
      const constants = pkcs11 as unknown as Record<string, number>;
      library.C_FindObjectsInit(session, [
        { type: pkcs11.CKA_CLASS, value: constants[objectClass] },
        { type: pkcs11.CKA_LABEL, value: keyLabel },
      ]);
      const [handle] = library.C_FindObjects(session, 1);
      library.C_FindObjectsFinal(session);
      if (!handle) throw new Error(`no ${objectClass} labelled ${keyLabel}`);
      const values = library.C_GetAttributeValue(
        session,
        handle,
        names.map((name) => ({ type: constants[name] })),
      );
      return Object.fromEntries(
        names.map((name, index) => [
          name,
          values[index].value.length === 1
            ? values[index].value[0]
            : values[index].value.length,
        ]),
      );
    });
  }

  /** A logged-in read-write session on the token, through pkcs11js directly (needs `useInThisProcess`). */
  private withSession<T>(
    tokenLabel: string,
    pin: string,
    use: (
      pkcs11: typeof import('pkcs11js'),
      library: import('pkcs11js').PKCS11,
      session: Buffer,
    ) => T,
  ): T {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy require: the native addon loads only in the tests that use the token directly
    const pkcs11 = require('pkcs11js') as typeof import('pkcs11js');
    const library = new pkcs11.PKCS11();
    library.load(SOFTHSM_MODULE);
    library.C_Initialize();
    try {
      const slot = library
        .C_GetSlotList(true)
        .find(
          (candidate) =>
            library.C_GetTokenInfo(candidate).label.trim() === tokenLabel,
        );
      if (!slot) throw new Error(`no token labelled ${tokenLabel}`);
      const session = library.C_OpenSession(
        slot,
        pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION,
      );
      library.C_Login(session, pkcs11.CKU_USER, pin);
      try {
        return use(pkcs11, library, session);
      } finally {
        library.C_Logout(session);
        library.C_CloseSession(session);
      }
    } finally {
      library.C_Finalize();
      library.close();
    }
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `npm run master-key -- ARGS` (with `via: 'npm'`) or the same script straight under ts-node,
 * with only the given variables (plus PATH and HOME): nothing else of the test's environment leaks in.
 */
export function runMasterKeyCommand(
  args: string[],
  options: {
    env: Record<string, string>;
    input?: string;
    via?: 'npm' | 'ts-node';
  },
): Promise<CommandResult> {
  const [command, commandArgs] =
    options.via === 'npm'
      ? ['npm', ['run', '--silent', 'master-key', '--', ...args]]
      : [
          process.execPath,
          [
            '-r',
            'ts-node/register/transpile-only',
            'src/cli/master-key.ts',
            ...args,
          ],
        ];
  const child = spawn(command, commandArgs, {
    cwd: PROJECT_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      TS_NODE_PROJECT: join(PROJECT_ROOT, 'tsconfig.json'),
      ...options.env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on(
    'data',
    (chunk: Buffer) => (stdout += chunk.toString('utf8')),
  );
  child.stderr.on(
    'data',
    (chunk: Buffer) => (stderr += chunk.toString('utf8')),
  );
  child.stdin.end(options.input ?? '');
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A sealed master-key file (`npm run master-key -- seal`), as the JSON the command writes. */
export interface SealedFileJson {
  format: string;
  version: number;
  mechanism: string;
  keyLabel: string;
  iv?: string;
  oaepHash?: string;
  ciphertext: string;
}

export function readSealedFile(path: string): SealedFileJson {
  return JSON.parse(readFileSync(path, 'utf8')) as SealedFileJson;
}
