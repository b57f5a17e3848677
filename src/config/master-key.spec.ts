import { randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSecureBuffer, zeroBuffer } from '@vault-pii/nest-encryption/crypto';
import {
  masterKeySettingProblems,
  MasterKeyResolution,
  readMasterKeyFile,
  resolveMasterKey,
} from './master-key';

describe('master key sources (docs/operations.md#the-master-key-three-sources)', () => {
  let dir: string;
  const key = randomBytes(32);
  const encoded = key.toString('base64');

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'master-key-spec-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function resolve(
    env: Record<string, string>,
    nodeEnv = 'test',
  ): MasterKeyResolution {
    return resolveMasterKey({ env, nodeEnv, dataDir: join(dir, 'data') });
  }

  function keyOf(resolution: MasterKeyResolution): {
    key: Buffer;
    source: string;
  } {
    if ('problems' in resolution)
      throw new Error(
        `unexpected problems: ${JSON.stringify(resolution.problems)}`,
      );
    return resolution;
  }

  function problemsOf(resolution: MasterKeyResolution): string[] {
    if (!('problems' in resolution)) throw new Error('expected problems');
    return resolution.problems.map((p) => `${p.variable}: ${p.message}`);
  }

  function keyFile(content: string | Buffer): string {
    const path = join(dir, `key-${randomBytes(4).toString('hex')}`);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  }

  describe('APP_MASTER_KEY', () => {
    it('decodes into secure memory', () => {
      const resolved = keyOf(resolve({ APP_MASTER_KEY: encoded }));
      expect(resolved.source).toBe('environment');
      expect(resolved.key.equals(key)).toBe(true);
      expect(isSecureBuffer(resolved.key)).toBe(true);
      zeroBuffer(resolved.key);
    });

    it('refuses a placeholder in production only', () => {
      const zeros = Buffer.alloc(32).toString('base64');
      expect(
        problemsOf(resolve({ APP_MASTER_KEY: zeros }, 'production')),
      ).toEqual([
        expect.stringMatching(/^APP_MASTER_KEY: looks like a placeholder/),
      ]);
      expect(keyOf(resolve({ APP_MASTER_KEY: zeros })).source).toBe(
        'environment',
      );
    });
  });

  describe('APP_MASTER_KEY_FILE', () => {
    it.each([
      ['no newline', ''],
      ['a newline', '\n'],
      ['CRLF', '\r\n'],
    ])('reads a file with %s into secure memory', (_name, ending) => {
      const resolved = keyOf(
        resolve({ APP_MASTER_KEY_FILE: keyFile(encoded + ending) }),
      );
      expect(resolved.source).toBe('file');
      expect(resolved.key.equals(key)).toBe(true);
      expect(isSecureBuffer(resolved.key)).toBe(true);
      zeroBuffer(resolved.key);
    });

    it.each([
      ['empty', ''],
      ['a newline only', '\n'],
      ['two newlines', `${encoded}\n\n`],
      ['a lone CR', `${encoded}\r`],
      ['a leading space', ` ${encoded}`],
      ['a trailing space', `${encoded} \n`],
      ['31 bytes', `${randomBytes(31).toString('base64')}\n`],
      ['33 bytes', `${randomBytes(33).toString('base64')}\n`],
      ['a large file', randomBytes(4096).toString('base64')],
      ['the URL-safe alphabet', `${'-_'.repeat(21)}A=\n`],
      ['hex instead of base64', `${key.toString('hex')}\n`],
      ['binary key bytes', key],
      ['the key twice', `${encoded}\n${encoded}\n`],
    ])('refuses a file holding %s, without echoing it', (_name, content) => {
      const path = keyFile(content);
      const problems = problemsOf(resolve({ APP_MASTER_KEY_FILE: path }));
      expect(problems).toEqual([
        `APP_MASTER_KEY_FILE: ${path} must hold 32 bytes in base64 (44 characters), optionally followed by one newline`,
      ]);
      const text = Buffer.isBuffer(content)
        ? content.toString('base64')
        : content.trim();
      if (text) expect(problems.join()).not.toContain(text.slice(0, 12));
    });

    it('names a missing file and a directory', () => {
      expect(
        problemsOf(resolve({ APP_MASTER_KEY_FILE: join(dir, 'absent') })),
      ).toEqual([
        `APP_MASTER_KEY_FILE: cannot read ${join(dir, 'absent')} (no such file)`,
      ]);
      mkdirSync(join(dir, 'folder'));
      expect(
        problemsOf(resolve({ APP_MASTER_KEY_FILE: join(dir, 'folder') })),
      ).toEqual([
        `APP_MASTER_KEY_FILE: cannot read ${join(dir, 'folder')} (it is a directory)`,
      ]);
    });

    it('refuses a placeholder in production, naming APP_MASTER_KEY_FILE', () => {
      const path = keyFile(`${Buffer.alloc(32, 7).toString('base64')}\n`);
      expect(
        problemsOf(resolve({ APP_MASTER_KEY_FILE: path }, 'production')),
      ).toEqual([
        expect.stringMatching(/^APP_MASTER_KEY_FILE: looks like a placeholder/),
      ]);
    });

    it('readMasterKeyFile wipes and releases what it read (the result alone is live)', () => {
      const read = readMasterKeyFile(keyFile(`${encoded}\n`));
      if (!('key' in read)) throw new Error('expected a key');
      expect(read.key.length).toBe(32);
      expect(isSecureBuffer(read.key)).toBe(true);
      zeroBuffer(read.key);
    });
  });

  describe('choosing a source', () => {
    it.each([
      [
        { APP_MASTER_KEY: encoded, APP_MASTER_KEY_FILE: '/k' },
        'APP_MASTER_KEY, APP_MASTER_KEY_FILE: are both set: set only one master key source',
      ],
      [
        { APP_MASTER_KEY_FILE: '/k', APP_MASTER_KEY_SEALED: '/s' },
        'APP_MASTER_KEY_FILE, APP_MASTER_KEY_SEALED: are both set: set only one master key source',
      ],
      [
        {
          APP_MASTER_KEY: encoded,
          APP_MASTER_KEY_FILE: '/k',
          APP_MASTER_KEY_SEALED: '/s',
        },
        'APP_MASTER_KEY, APP_MASTER_KEY_FILE, APP_MASTER_KEY_SEALED: are all set: set only one master key source',
      ],
    ])('refuses two sources at once, naming both: %p', (env, problem) => {
      expect(problemsOf(resolve(env))).toEqual([problem]);
      expect(
        masterKeySettingProblems(env, 'development').map(
          (p) => `${p.variable}: ${p.message}`,
        ),
      ).toEqual([problem]);
    });

    it('treats an empty variable as unset', () => {
      expect(
        keyOf(
          resolve({
            APP_MASTER_KEY: '',
            APP_MASTER_KEY_FILE: keyFile(encoded),
          }),
        ).source,
      ).toBe('file');
    });

    it('names every PKCS11_* variable a sealed key lacks, before touching any file or token', () => {
      expect(
        problemsOf(
          resolve({ APP_MASTER_KEY_SEALED: join(dir, 'absent.json') }),
        ),
      ).toEqual([
        'PKCS11_MODULE: is required with APP_MASTER_KEY_SEALED',
        'PKCS11_TOKEN_LABEL: is required with APP_MASTER_KEY_SEALED',
        'PKCS11_KEY_LABEL: is required with APP_MASTER_KEY_SEALED',
        'PKCS11_PIN: (or PKCS11_PIN_FILE) is required with APP_MASTER_KEY_SEALED',
      ]);
      expect(
        problemsOf(
          resolve({
            APP_MASTER_KEY_SEALED: join(dir, 'absent.json'),
            PKCS11_MODULE: '/x.so',
            PKCS11_TOKEN_LABEL: 'a token label longer than 32 bytes',
            PKCS11_KEY_LABEL: 'k',
            PKCS11_PIN: '1234',
            PKCS11_PIN_FILE: '/pin',
          }),
        ),
      ).toEqual([
        "PKCS11_TOKEN_LABEL: must be at most 32 bytes (a token label's size)",
        'PKCS11_PIN, PKCS11_PIN_FILE: are both set: set only one',
      ]);
    });

    it('refuses to start in production without any source, naming all three', () => {
      const [problem] = problemsOf(resolve({}, 'production'));
      expect(problem).toMatch(
        /^APP_MASTER_KEY: is required when NODE_ENV=production/,
      );
      expect(problem).toContain('APP_MASTER_KEY_FILE');
      expect(problem).toContain('APP_MASTER_KEY_SEALED');
    });
  });

  describe('the development key file', () => {
    it('is generated once (base64 and a newline, mode 0600), returned in secure memory, then read back', () => {
      const first = keyOf(resolve({}));
      expect(first.source).toBe('development-file');
      expect(isSecureBuffer(first.key)).toBe(true);
      const content = readFileSync(join(dir, 'data', 'master.key'), 'utf8');
      expect(content).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
      expect(Buffer.from(content, 'base64').equals(first.key)).toBe(true);
      const second = keyOf(resolve({}));
      expect(second.key.equals(first.key)).toBe(true);
      zeroBuffer(first.key, second.key);
    });
  });
});
