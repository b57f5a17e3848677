import { randomFillSync } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeBase64Secret } from '../config/base64-bytes';
import {
  looksNonRandom,
  MASTER_KEY_BYTES,
  readBase64MasterKey,
} from '../config/master-key';
import { secureAlloc, zeroBuffer } from '@vault-pii/nest-encryption/crypto';
import {
  Pkcs11Settings,
  Pkcs11SettingError,
  readPkcs11Settings,
} from '../hsm/pkcs11-settings';
import {
  Pkcs11Token,
  RSA_NEW_KEY_BITS,
  withPkcs11Token,
} from '../hsm/pkcs11-token';
import {
  AES_GCM_MECHANISM,
  openSealedMasterKey,
  readSealedMasterKeyFile,
  RSA_OAEP_MECHANISM,
  SealingKey,
  SealingMechanism,
  sealMasterKey,
  serializeSealedMasterKey,
} from '../hsm/sealed-master-key';

const USAGE = `Usage: npm run master-key -- <command> [options]
       (or, from the build: node dist/cli/master-key.js <command> [options])

Commands:
  generate
      Print a fresh master key (32 random bytes, base64) on standard output.

  seal --out FILE [--mechanism aes-gcm|rsa-oaep] [--rsa-bits 2048|3072] [--force]
      Read a base64 master key on standard input and seal it with the token key labelled
      PKCS11_KEY_LABEL, created if absent (sensitive, never extractable). Writes FILE (mode 0600)
      for APP_MASTER_KEY_SEALED.
        aes-gcm   (default) an AES-256 key, CKM_AES_GCM; encrypt and decrypt only.
        rsa-oaep  an RSA key pair whose private key may only decrypt, CKM_RSA_PKCS_OAEP: for
                  TPMs (tpm2-pkcs11), which have no AES-GCM. OAEP with SHA-256, or SHA-1 when
                  the token refuses SHA-256 (SoftHSM2). A new pair has --rsa-bits bits (3072;
                  2048 for TPMs without RSA-3072).

  reseal --new-key-label LABEL --out FILE [--mechanism aes-gcm|rsa-oaep] [--rsa-bits N] [--force]
      Open APP_MASTER_KEY_SEALED with the key labelled PKCS11_KEY_LABEL and seal the same master
      key under the key labelled LABEL (created if absent), with the mechanism of the file
      opened unless --mechanism says otherwise: HSM key rotation, or a move between AES-GCM and
      RSA-OAEP, no data touched. Then set APP_MASTER_KEY_SEALED=FILE and PKCS11_KEY_LABEL=LABEL.

Options:
  --out FILE          where to write the sealed file; an existing file is kept unless --force
  --mechanism M       aes-gcm or rsa-oaep (see seal)
  --rsa-bits N        2048 or 3072: the size of an RSA key pair created (default 3072)
  --force             replace an existing FILE
  -h, --help          this text

Environment (as for the app, also read from ./.env): PKCS11_MODULE, PKCS11_TOKEN_LABEL,
PKCS11_KEY_LABEL, PKCS11_PIN or PKCS11_PIN_FILE; APP_MASTER_KEY_SEALED for reseal.

  npm run master-key -- generate > master.key.b64      # or: openssl rand -base64 32
  npm run master-key -- seal --out master-key.sealed.json < master.key.b64
  npm run master-key -- seal --mechanism rsa-oaep --out master-key.sealed.json < master.key.b64
`;

/** A mistake in the command line itself: usage is printed, exit code 2. */
class UsageError extends Error {}

/** The command cannot do its work (bad input, a file in the way): the message, exit code 1. */
class CommandError extends Error {}

export function runMasterKeyCommand(
  argv: string[],
  env: Record<string, string | undefined>,
): number {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { command, values } = parsed;
  if (values.help || command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    switch (command) {
      case 'generate':
        generate();
        return 0;
      case 'seal':
        seal(
          requireOption(values.out, '--out'),
          sealingChoice(sealingOptions(values), AES_GCM_MECHANISM),
          Boolean(values.force),
          env,
        );
        return 0;
      case 'reseal':
        reseal(
          requireOption(values['new-key-label'], '--new-key-label'),
          requireOption(values.out, '--out'),
          sealingOptions(values),
          Boolean(values.force),
          env,
        );
        return 0;
      default:
        throw new UsageError(
          command ? `unknown command "${command}"` : 'no command given',
        );
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof Pkcs11SettingError || error instanceof CommandError) {
      process.stderr.write(`master-key: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

function parseCommandLine(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      force: { type: 'boolean' },
      'new-key-label': { type: 'string' },
      mechanism: { type: 'string' },
      'rsa-bits': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (positionals.length > 1)
    throw new UsageError(`unexpected argument "${positionals[1]}"`);
  return { command: positionals[0], values };
}

/** --mechanism and --rsa-bits, checked for their values (not yet against each other). */
interface SealingOptions {
  mechanism?: SealingMechanism;
  rsaBits?: (typeof RSA_NEW_KEY_BITS)[number];
}

/** The mechanism of a new sealed file, and the size of an RSA key pair if one is created. */
type SealingChoice = SealingOptions & { mechanism: SealingMechanism };

const MECHANISM_OPTIONS: Record<string, SealingMechanism> = {
  'aes-gcm': AES_GCM_MECHANISM,
  'rsa-oaep': RSA_OAEP_MECHANISM,
};

function sealingOptions(values: {
  mechanism?: string;
  'rsa-bits'?: string;
}): SealingOptions {
  const options: SealingOptions = {};
  if (values.mechanism !== undefined) {
    options.mechanism = Object.hasOwn(MECHANISM_OPTIONS, values.mechanism)
      ? MECHANISM_OPTIONS[values.mechanism]
      : undefined;
    if (!options.mechanism)
      throw new UsageError(
        `--mechanism must be aes-gcm or rsa-oaep, not "${values.mechanism}"`,
      );
  }
  if (values['rsa-bits'] !== undefined) {
    options.rsaBits = RSA_NEW_KEY_BITS.find(
      (bits) => String(bits) === values['rsa-bits'],
    );
    if (!options.rsaBits)
      throw new UsageError(
        `--rsa-bits must be ${RSA_NEW_KEY_BITS.join(' or ')}, not "${values['rsa-bits']}"`,
      );
  }
  return options;
}

/** The options with the mechanism settled (given, or the default); --rsa-bits only with RSA-OAEP. */
function sealingChoice(
  options: SealingOptions,
  defaultMechanism: SealingMechanism,
): SealingChoice {
  const choice = {
    ...options,
    mechanism: options.mechanism ?? defaultMechanism,
  };
  if (choice.rsaBits !== undefined && choice.mechanism !== RSA_OAEP_MECHANISM) {
    throw new UsageError(
      '--rsa-bits goes with --mechanism rsa-oaep (or reseal of an RSA-OAEP file)',
    );
  }
  return choice;
}

function requireOption(value: string | undefined, name: string): string {
  if (!value) throw new UsageError(`${name} is required`);
  return value;
}

function generate(): void {
  const key = randomFillSync(secureAlloc(MASTER_KEY_BYTES));
  const encoded = encodeBase64Secret(key);
  try {
    writeSync(1, encoded);
    writeSync(1, '\n');
  } finally {
    zeroBuffer(key, encoded);
  }
}

function seal(
  out: string,
  choice: SealingChoice,
  force: boolean,
  env: Record<string, string | undefined>,
): void {
  refuseToOverwrite(out, force);
  const settings = readPkcs11Settings(env, 'the master-key command');
  const masterKey = readMasterKeyFromStdin();
  try {
    const { text, key } = withPkcs11Token(
      settings,
      { readWrite: true },
      (token) => {
        const sealingKey = findOrCreateSealingKey(
          token,
          settings.keyLabel,
          'PKCS11_KEY_LABEL',
          choice,
        );
        return {
          text: sealWithNote(token, sealingKey, masterKey),
          key: sealingKey,
        };
      },
    );
    writeSealedFile(out, text, force);
    report(
      `sealed the master key to ${out} with ${describeKey(key)} on token "${settings.tokenLabel}"`,
    );
  } finally {
    zeroBuffer(masterKey);
  }
}

function reseal(
  newKeyLabel: string,
  out: string,
  options: SealingOptions,
  force: boolean,
  env: Record<string, string | undefined>,
): void {
  refuseToOverwrite(out, force);
  const sealedPath = env.APP_MASTER_KEY_SEALED?.trim();
  if (!sealedPath)
    throw new Pkcs11SettingError(
      'APP_MASTER_KEY_SEALED',
      'is required by reseal: the sealed file to open',
    );
  const settings: Pkcs11Settings = readPkcs11Settings(
    env,
    'the master-key command',
  );
  // Without --mechanism, the new file is sealed the way the old one was.
  const choice = sealingChoice(
    options,
    options.mechanism ??
      readSealedMasterKeyFile(sealedPath, 'APP_MASTER_KEY_SEALED').mechanism,
  );
  const masterKey = openSealedMasterKey(settings, sealedPath);
  try {
    const { text, key } = withPkcs11Token(
      settings,
      { readWrite: true },
      (token) => {
        const sealingKey = findOrCreateSealingKey(
          token,
          newKeyLabel,
          '--new-key-label',
          choice,
        );
        return {
          text: sealWithNote(token, sealingKey, masterKey),
          key: sealingKey,
        };
      },
    );
    writeSealedFile(out, text, force);
    report(
      `resealed the master key of ${sealedPath} to ${out} with ${describeKey(key)} on token "${settings.tokenLabel}"; ` +
        `now set APP_MASTER_KEY_SEALED=${out} and PKCS11_KEY_LABEL=${newKeyLabel}. The key labelled "${settings.keyLabel}" ` +
        'is still on the token: delete it once no sealed file depends on it.',
    );
  } finally {
    zeroBuffer(masterKey);
  }
}

function sealWithNote(
  token: Pkcs11Token,
  key: SealingKey,
  masterKey: Buffer,
): string {
  const { sealed, note } = sealMasterKey(token, key, masterKey);
  if (note) report(note);
  return serializeSealedMasterKey(sealed);
}

function describeKey(key: SealingKey): string {
  return key.mechanism === AES_GCM_MECHANISM
    ? `the AES-256 key labelled "${key.label}" (CKM_AES_GCM)`
    : `the RSA key labelled "${key.label}" (CKM_RSA_PKCS_OAEP)`;
}

function findOrCreateSealingKey(
  token: Pkcs11Token,
  label: string,
  variable: string,
  choice: SealingChoice,
): SealingKey {
  const { mechanism } = choice;
  if (mechanism === AES_GCM_MECHANISM) {
    const existing = token.findAesKey(label, variable);
    if (existing) {
      token.checkSealingKey(existing, variable);
      return { ...existing, mechanism };
    }
    refuseOccupiedLabel(token, label, variable, 'an AES-256 key');
    const created = token.createAesKey(label, variable);
    report(
      `created the AES-256 key labelled "${label}" on token "${token.tokenLabel}"`,
    );
    return { ...created, mechanism };
  }
  const existing = token.findRsaPrivateKey(label, variable);
  if (existing) {
    token.checkRsaSealingKey(existing, variable);
    return { ...existing, mechanism };
  }
  refuseOccupiedLabel(token, label, variable, 'an RSA private key');
  const bits = choice.rsaBits ?? 3072;
  const created = token.createRsaKeyPair(label, bits, variable);
  report(
    `created the RSA-${bits} key pair labelled "${label}" on token "${token.tokenLabel}"`,
  );
  return { ...created, mechanism };
}

/** A label that already names another kind of object is not given to a new key as well. */
function refuseOccupiedLabel(
  token: Pkcs11Token,
  label: string,
  variable: string,
  wanted: string,
): void {
  if (token.hasObjectLabelled(label)) {
    throw new Pkcs11SettingError(
      variable,
      `the label "${label}" on token "${token.tokenLabel}" names an object that is not ${wanted}; choose another label`,
    );
  }
}

/**
 * The base64 master key on standard input, read as bytes into secure memory and decoded into
 * secure memory (one trailing newline allowed). A placeholder-looking key is refused.
 */
function readMasterKeyFromStdin(): Buffer {
  const key = readBase64MasterKey(readStdin);
  if (!key) {
    throw new CommandError(
      `standard input must be a master key: ${MASTER_KEY_BYTES} bytes in base64 (44 characters) and at most one newline`,
    );
  }
  if (looksNonRandom(key)) {
    zeroBuffer(key);
    throw new CommandError(
      'the key on standard input looks like a placeholder, not random bytes; generate one with `npm run master-key -- generate`',
    );
  }
  return key;
}

function readStdin(buffer: Buffer, offset: number): number {
  for (;;) {
    try {
      return readSync(0, buffer, offset, buffer.length - offset, null);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EOF') return 0;
      // A non-blocking terminal or pipe with nothing yet: wait a little and read again.
      if (code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        continue;
      }
      throw new CommandError(
        `standard input cannot be read (${code ?? (error as Error).message})`,
      );
    }
  }
}

function refuseToOverwrite(out: string, force: boolean): void {
  if (!force && existsSync(out))
    throw new CommandError(`${out} exists; pass --force to replace it`);
}

/**
 * Writes the sealed file (mode 0600) under a temporary name, then moves it into place: renamed
 * over `out` with --force, else linked, which fails if `out` appeared meanwhile.
 */
function writeSealedFile(out: string, text: string, force: boolean): void {
  const temporary = join(dirname(out), `.${basename(out)}.${process.pid}.tmp`);
  try {
    const fd = openSync(temporary, 'wx', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (force) renameSync(temporary, out);
    else linkSync(temporary, out);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && !force && existsSync(out))
      throw new CommandError(`${out} exists; pass --force to replace it`);
    throw new CommandError(
      `cannot write ${out} (${code ?? (error as Error).message})`,
    );
  } finally {
    rmSync(temporary, { force: true });
  }
}

function report(message: string): void {
  process.stderr.write(`master-key: ${message}\n`);
}

if (require.main === module) {
  if (existsSync('.env')) process.loadEnvFile('.env');
  process.exitCode = runMasterKeyCommand(process.argv.slice(2), process.env);
}
