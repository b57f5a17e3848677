import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pkcs11SettingError, readPkcs11Settings } from './pkcs11-settings';

/** Reading PKCS11_* (no token needed; the token itself is exercised in test/master-key-sources.e2e-spec.ts). */
describe('readPkcs11Settings', () => {
  let dir: string;
  let modulePath: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pkcs11-spec-'));
    modulePath = join(dir, 'module.so');
    writeFileSync(modulePath, '');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const base = () => ({
    PKCS11_MODULE: modulePath,
    PKCS11_TOKEN_LABEL: 'T',
    PKCS11_KEY_LABEL: 'K',
  });

  function problem(env: Record<string, string>): string {
    try {
      readPkcs11Settings(env, 'APP_MASTER_KEY_SEALED');
    } catch (error) {
      expect(error).toBeInstanceOf(Pkcs11SettingError);
      return (error as Error).message;
    }
    throw new Error('expected a Pkcs11SettingError');
  }

  function pinFile(content: string): string {
    const path = join(dir, 'pin');
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  }

  it('takes PKCS11_PIN as it is (a PIN is opaque)', () => {
    expect(
      readPkcs11Settings({ ...base(), PKCS11_PIN: ' 1234 ' }, 'x'),
    ).toEqual({
      modulePath,
      tokenLabel: 'T',
      keyLabel: 'K',
      pin: ' 1234 ',
      pinVariable: 'PKCS11_PIN',
    });
  });

  it.each([
    ['no newline', '1234'],
    ['a newline', '1234\n'],
    ['CRLF', '1234\r\n'],
  ])('reads PKCS11_PIN_FILE with %s', (_name, content) => {
    const settings = readPkcs11Settings(
      { ...base(), PKCS11_PIN_FILE: pinFile(content) },
      'x',
    );
    expect(settings).toMatchObject({
      pin: '1234',
      pinVariable: 'PKCS11_PIN_FILE',
    });
  });

  it.each([
    ['empty', '', 'is empty'],
    ['a newline only', '\n', 'is empty'],
    ['two lines', '1234\n5678\n', 'must hold the PIN on one line'],
  ])(
    'refuses a PIN file that is %s, without echoing it',
    (_name, content, reason) => {
      const path = pinFile(content);
      const message = problem({ ...base(), PKCS11_PIN_FILE: path });
      expect(message).toBe(`PKCS11_PIN_FILE: ${path} ${reason}`);
      expect(message).not.toContain('5678');
    },
  );

  it('names a missing PIN file and a missing module', () => {
    expect(problem({ ...base(), PKCS11_PIN_FILE: join(dir, 'absent') })).toBe(
      `PKCS11_PIN_FILE: cannot read ${join(dir, 'absent')} (no such file)`,
    );
    expect(
      problem({
        ...base(),
        PKCS11_MODULE: join(dir, 'absent.so'),
        PKCS11_PIN: '1',
      }),
    ).toBe(`PKCS11_MODULE: no file at ${join(dir, 'absent.so')}`);
  });

  it('needs exactly one of PKCS11_PIN and PKCS11_PIN_FILE', () => {
    expect(problem(base())).toBe(
      'PKCS11_PIN: (or PKCS11_PIN_FILE) is required with APP_MASTER_KEY_SEALED',
    );
    expect(
      problem({
        ...base(),
        PKCS11_PIN: '1234',
        PKCS11_PIN_FILE: pinFile('1234'),
      }),
    ).toBe('PKCS11_PIN, PKCS11_PIN_FILE: are both set: set only one');
  });
});
