import { existsSync, readFileSync } from 'node:fs';

/**
 * The PKCS11_* variables (docs/operations.md#the-master-key-three-sources,
 * `APP_MASTER_KEY_SEALED`), as the app and `npm run master-key` read them: PKCS11_MODULE,
 * PKCS11_TOKEN_LABEL, PKCS11_KEY_LABEL, and PKCS11_PIN or PKCS11_PIN_FILE.
 */

/**
 * A setting of the sealed master key that does not work (a PKCS11_* variable, the token, the
 * sealed file), named by its variable. The message never holds a secret.
 */
export class Pkcs11SettingError extends Error {
  constructor(
    readonly variable: string,
    readonly detail: string,
  ) {
    super(`${variable}: ${detail}`);
    this.name = 'Pkcs11SettingError';
  }
}

export interface Pkcs11Settings {
  /** Path of the PKCS#11 library (e.g. /usr/lib/softhsm/libsofthsm2.so). */
  modulePath: string;
  tokenLabel: string;
  keyLabel: string;
  /**
   * The user PIN. pkcs11js's `C_Login` takes a JavaScript string, so the PIN is one (in the
   * environment too, when it comes from PKCS11_PIN); it unlocks the token, not any key by itself.
   */
  pin: string;
  /** Where the PIN came from, to name it in messages. */
  pinVariable: 'PKCS11_PIN' | 'PKCS11_PIN_FILE';
}

export const PKCS11_VARIABLES = [
  'PKCS11_MODULE',
  'PKCS11_TOKEN_LABEL',
  'PKCS11_KEY_LABEL',
] as const;

/** A token label is a 32-byte field, blank-padded. */
const TOKEN_LABEL_BYTES = 32;
/** A PIN file holds one line; anything longer is not a PIN file. */
const PIN_FILE_MAX_BYTES = 1024;

type Environment = Record<string, string | undefined>;

function setting(env: Environment, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/**
 * What is wrong with the PKCS11_* variables, without touching the file system or the token
 * (a start-up that already failed on another variable reports these too).
 */
export function pkcs11SettingProblems(
  env: Environment,
  neededBy: string,
): { variable: string; message: string }[] {
  const problems: { variable: string; message: string }[] = [];
  for (const name of PKCS11_VARIABLES) {
    if (setting(env, name) === undefined)
      problems.push({
        variable: name,
        message: `is required with ${neededBy}`,
      });
  }
  const tokenLabel = setting(env, 'PKCS11_TOKEN_LABEL');
  if (
    tokenLabel !== undefined &&
    Buffer.byteLength(tokenLabel, 'utf8') > TOKEN_LABEL_BYTES
  ) {
    problems.push({
      variable: 'PKCS11_TOKEN_LABEL',
      message: `must be at most ${TOKEN_LABEL_BYTES} bytes (a token label's size)`,
    });
  }
  // A PIN is opaque: PKCS11_PIN counts as set unless empty, spaces included.
  const hasPin = Boolean(env.PKCS11_PIN);
  const hasPinFile = setting(env, 'PKCS11_PIN_FILE') !== undefined;
  if (hasPin && hasPinFile) {
    problems.push({
      variable: 'PKCS11_PIN, PKCS11_PIN_FILE',
      message: 'are both set: set only one',
    });
  } else if (!hasPin && !hasPinFile) {
    problems.push({
      variable: 'PKCS11_PIN',
      message: `(or PKCS11_PIN_FILE) is required with ${neededBy}`,
    });
  }
  return problems;
}

/**
 * The PKCS11_* settings, PIN file read.
 *
 * @throws Pkcs11SettingError for the first problem (see `pkcs11SettingProblems` for all of them).
 */
export function readPkcs11Settings(
  env: Environment,
  neededBy: string,
): Pkcs11Settings {
  const [problem] = pkcs11SettingProblems(env, neededBy);
  if (problem) throw new Pkcs11SettingError(problem.variable, problem.message);
  const modulePath = setting(env, 'PKCS11_MODULE') as string;
  if (!existsSync(modulePath))
    throw new Pkcs11SettingError('PKCS11_MODULE', `no file at ${modulePath}`);
  const pinFile = setting(env, 'PKCS11_PIN_FILE');
  return {
    modulePath,
    tokenLabel: setting(env, 'PKCS11_TOKEN_LABEL') as string,
    keyLabel: setting(env, 'PKCS11_KEY_LABEL') as string,
    // A PIN is opaque: taken as it is, not trimmed.
    pin:
      pinFile === undefined ? (env.PKCS11_PIN as string) : readPinFile(pinFile),
    pinVariable: pinFile === undefined ? 'PKCS11_PIN' : 'PKCS11_PIN_FILE',
  };
}

/** The file's content less one trailing newline (or CRLF), the Docker/Kubernetes secrets convention. */
function readPinFile(path: string): string {
  let content: Buffer;
  try {
    content = readFileSync(path);
  } catch (error) {
    throw new Pkcs11SettingError(
      'PKCS11_PIN_FILE',
      `cannot read ${path} (${describeFsError(error)})`,
    );
  }
  try {
    let end = content.length;
    if (end > 0 && content[end - 1] === 0x0a) end--;
    if (end > 0 && content[end - 1] === 0x0d && end < content.length) end--;
    if (end === 0)
      throw new Pkcs11SettingError('PKCS11_PIN_FILE', `${path} is empty`);
    if (end > PIN_FILE_MAX_BYTES || content.subarray(0, end).includes(0x0a)) {
      throw new Pkcs11SettingError(
        'PKCS11_PIN_FILE',
        `${path} must hold the PIN on one line`,
      );
    }
    return content.toString('utf8', 0, end);
  } finally {
    content.fill(0);
  }
}

export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return code ?? (error as Error).message;
  }
}
