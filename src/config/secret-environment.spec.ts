import { execFileSync } from 'node:child_process';
import {
  removeSecretsFromEnvironment,
  SECRET_ENVIRONMENT_VARIABLES,
} from './secret-environment';

describe('removeSecretsFromEnvironment (docs/operations.md#secrets-in-the-environment: secrets leave process.env after reading)', () => {
  it('removes every secret variable and keeps the rest', () => {
    const env: NodeJS.ProcessEnv = {
      APP_MASTER_KEY: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0=',
      PKCS11_PIN: '1234',
      DATABASE_URL: 'postgres://app:pw@db:5432/vault',
      REDIS_URL: 'redis://:pw@redis:6379',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=collector-secret',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://user:pw@collector:4318',
      APP_MASTER_KEY_FILE: '/run/secrets/master-key',
      PKCS11_PIN_FILE: '/run/secrets/pin',
      PORT: '3000',
      PATH: '/usr/bin',
    };
    expect(removeSecretsFromEnvironment(env).sort()).toEqual(
      [...SECRET_ENVIRONMENT_VARIABLES].sort(),
    );
    expect(env).toEqual({
      APP_MASTER_KEY_FILE: '/run/secrets/master-key',
      PKCS11_PIN_FILE: '/run/secrets/pin',
      PORT: '3000',
      PATH: '/usr/bin',
    });
  });

  it('names only what was there, and an empty value counts as there', () => {
    const env: NodeJS.ProcessEnv = { REDIS_URL: '', PORT: '3000' };
    expect(removeSecretsFromEnvironment(env)).toEqual(['REDIS_URL']);
    expect(env).toEqual({ PORT: '3000' });
    expect(removeSecretsFromEnvironment(env)).toEqual([]);
  });

  it('on the real process.env, the variables are gone for the process and for its children', () => {
    // In a child of its own, so this test leaves Jest's environment alone.
    const script = `
      const { removeSecretsFromEnvironment } = require(${JSON.stringify(require.resolve('./secret-environment'))});
      removeSecretsFromEnvironment();
      const { execFileSync } = require('node:child_process');
      const inherited = execFileSync('env', { encoding: 'utf8' });
      process.stdout.write(JSON.stringify({ own: Object.keys(process.env), inherited: inherited.split('\\n').map((l) => l.split('=')[0]) }));
    `;
    const out = execFileSync(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', '-e', script],
      {
        env: {
          PATH: process.env.PATH,
          APP_MASTER_KEY: 'x'.repeat(43) + '=',
          DATABASE_URL: 'postgres://a:b@c/d',
          PKCS11_PIN: '9',
          REDIS_URL: 'redis://r',
          KEEP: '1',
        },
        encoding: 'utf8',
      },
    );
    const { own, inherited } = JSON.parse(out) as {
      own: string[];
      inherited: string[];
    };
    for (const name of SECRET_ENVIRONMENT_VARIABLES) {
      expect(own).not.toContain(name);
      expect(inherited).not.toContain(name);
    }
    expect(own).toContain('KEEP');
    expect(inherited).toContain('KEEP');
  });
});
