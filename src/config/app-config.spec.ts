import { randomBytes } from 'node:crypto';
import {
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveServerSecrets } from '../crypto/server-secrets';
import { ConfigValidationError, loadAppConfig } from './app-config';

describe('loadAppConfig', () => {
  let dataDir: string;
  const validKey = randomBytes(32).toString('base64');

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'config-spec-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  function problemsOf(env: Record<string, string>): string[] {
    try {
      loadAppConfig({ DATA_DIR: dataDir, ...env });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigValidationError);
      return (error as ConfigValidationError).problems.map((p) => p.variable);
    }
    throw new Error('expected a ConfigValidationError');
  }

  it('applies the defaults of docs/running.md#configuration', () => {
    const config = loadAppConfig({
      DATA_DIR: dataDir,
      APP_MASTER_KEY: validKey,
    });
    expect(config).toMatchObject({
      nodeEnv: 'development',
      port: 3000,
      databaseUrl: undefined,
      redisUrl: undefined,
      dataDir,
      accessTokenTtlSeconds: 600,
      sessionIdleTtlSeconds: 1800,
      sessionMaxTtlSeconds: 43200,
      documentRetentionDays: 90,
      logLevel: 'info',
      encryptionAlgorithm: 'xchacha20-poly1305',
      masterKeySource: 'environment',
      redisKeyPrefix: '',
      redisCommandTimeoutMs: 1000,
      authRateLimit: 100,
      authRateLimitWindowSeconds: 60,
      loginFailureLimit: 10,
      loginFailureWindowSeconds: 900,
      trustProxy: false,
      corsAllowedOrigins: [],
      apiDocs: true,
    });
    expect(
      config.serverSecrets.vaultKey.equals(
        deriveServerSecrets(Buffer.from(validKey, 'base64')).vaultKey,
      ),
    ).toBe(true);
  });

  it('reads every variable', () => {
    const config = loadAppConfig({
      NODE_ENV: 'production',
      PORT: '8080',
      DATABASE_URL: 'postgres://app:secret@db:5432/app',
      REDIS_URL: 'redis://cache:6379',
      APP_MASTER_KEY: validKey,
      DATA_DIR: dataDir,
      ACCESS_TOKEN_TTL: '5m',
      SESSION_IDLE_TTL: '15m',
      SESSION_MAX_TTL: '8h',
      DOCUMENT_RETENTION_DAYS: '30',
      LOG_LEVEL: 'warn',
      ENCRYPTION_ALGORITHM: 'aes-256-gcm',
      REDIS_KEY_PREFIX: 'tenant-a:',
      REDIS_COMMAND_TIMEOUT_MS: '250',
      AUTH_RATE_LIMIT: '300',
      AUTH_RATE_LIMIT_WINDOW: '2m',
      LOGIN_FAILURE_LIMIT: '5',
      LOGIN_FAILURE_WINDOW: '1h',
      TRUST_PROXY: '2',
      CORS_ALLOWED_ORIGINS: 'https://app.example.org',
      API_DOCS: 'false',
      ALLOW_EMBEDDED_POSTGRES: 'false',
    });
    expect(config).toMatchObject({
      nodeEnv: 'production',
      port: 8080,
      databaseUrl: 'postgres://app:secret@db:5432/app',
      redisUrl: 'redis://cache:6379',
      accessTokenTtlSeconds: 300,
      sessionIdleTtlSeconds: 900,
      sessionMaxTtlSeconds: 28800,
      documentRetentionDays: 30,
      logLevel: 'warn',
      encryptionAlgorithm: 'aes-256-gcm',
      redisKeyPrefix: 'tenant-a:',
      redisCommandTimeoutMs: 250,
      authRateLimit: 300,
      authRateLimitWindowSeconds: 120,
      loginFailureLimit: 5,
      loginFailureWindowSeconds: 3600,
      trustProxy: 2,
      corsAllowedOrigins: ['https://app.example.org'],
      apiDocs: false,
    });
    expect(config.isProduction).toBe(true);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '0'],
    ['PORT', '65536'],
    ['PORT', '80.5'],
    ['NODE_ENV', 'staging'],
    ['DATABASE_URL', 'not a url'],
    ['DATABASE_URL', 'mysql://db/app'],
    ['REDIS_URL', 'http://cache'],
    ['ACCESS_TOKEN_TTL', '10 minutes'],
    ['SESSION_IDLE_TTL', '-1'],
    ['SESSION_MAX_TTL', 'forever'],
    ['DOCUMENT_RETENTION_DAYS', '0'],
    ['LOG_LEVEL', 'verbose'],
    ['ENCRYPTION_ALGORITHM', 'rot13'],
    ['ARGON2_MEMORY_KIB', '8192'],
    ['ARGON2_ITERATIONS', '1'],
    ['ARGON2_PARALLELISM', '0'],
    ['APP_MASTER_KEY', 'c2hvcnQ='],
    ['REDIS_KEY_PREFIX', 'has spaces'],
    ['REDIS_KEY_PREFIX', 'x'.repeat(65)],
    ['REDIS_COMMAND_TIMEOUT_MS', '10'],
    ['REDIS_COMMAND_TIMEOUT_MS', '1s'],
    ['REDIS_COMMAND_TIMEOUT_MS', '600000'],
    ['AUTH_RATE_LIMIT', '0'],
    ['AUTH_RATE_LIMIT', 'lots'],
    ['AUTH_RATE_LIMIT_WINDOW', '1 minute'],
    ['LOGIN_FAILURE_LIMIT', '-1'],
    ['LOGIN_FAILURE_WINDOW', '0'],
    ['TRUST_PROXY', 'true'],
    ['TRUST_PROXY', '33'],
    ['TRUST_PROXY', '10.0.0.0/33'],
    ['TRUST_PROXY', 'loopback, proxy.internal'],
    ['CORS_ALLOWED_ORIGINS', '*'],
    ['CORS_ALLOWED_ORIGINS', 'app.example.org'],
    ['CORS_ALLOWED_ORIGINS', 'https://app.example.org/'],
    ['CORS_ALLOWED_ORIGINS', 'https://app.example.org/path'],
    ['CORS_ALLOWED_ORIGINS', 'https://App.Example.org'],
    ['CORS_ALLOWED_ORIGINS', 'https://app.example.org:443'],
    ['CORS_ALLOWED_ORIGINS', 'https://*.example.org'],
    ['CORS_ALLOWED_ORIGINS', 'https://user@app.example.org'],
    ['CORS_ALLOWED_ORIGINS', 'ftp://files.example.org'],
    ['CORS_ALLOWED_ORIGINS', 'null'],
    ['CORS_ALLOWED_ORIGINS', 'https://app.example.org,,http://localhost:3000'],
    ['API_DOCS', 'off'],
    ['ALLOW_EMBEDDED_POSTGRES', 'yes'],
    ['METRICS_PORT', '65536'],
    ['METRICS_PORT', 'nine'],
    ['METRICS_PORT', '3000'],
    ['METRICS_HOST', 'not a host!'],
    ['METRICS_HOST', '-leading.example'],
    ['DOCUMENTS_MIN_FREE_SPACE', '-1'],
    ['DOCUMENTS_MIN_FREE_SPACE', '1.5GB'],
    ['DOCUMENTS_MIN_FREE_SPACE', '100 MB'],
    ['DOCUMENTS_MIN_FREE_SPACE', '100M'],
    ['DOCUMENTS_MIN_FREE_SPACE', 'plenty'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4318'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'grpc://collector:4317'],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc'],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'json'],
    ['OTEL_EXPORTER_OTLP_HEADERS', 'api-key'],
    ['OTEL_EXPORTER_OTLP_HEADERS', 'a=1,,b=2'],
    ['OTEL_RESOURCE_ATTRIBUTES', 'deployment.environment'],
    ['OTEL_SERVICE_NAME', 'vault api'],
    ['OTEL_TRACES_SAMPLER', 'sometimes'],
    ['OTEL_TRACES_SAMPLER_ARG', '1.5'],
    ['OTEL_TRACES_SAMPLER_ARG', '10%'],
    ['OTEL_BSP_SCHEDULE_DELAY', '5s'],
  ])('names %s when it is %p', (variable, value) => {
    expect(problemsOf({ APP_MASTER_KEY: validKey, [variable]: value })).toEqual(
      [variable],
    );
  });

  it.each([
    ['false', false],
    ['0', false],
    ['1', 1],
    ['loopback', ['loopback']],
    [
      '10.0.0.0/8, 192.168.1.7 ,uniquelocal',
      ['10.0.0.0/8', '192.168.1.7', 'uniquelocal'],
    ],
    ['fd00::/8,::1', ['fd00::/8', '::1']],
  ])('reads TRUST_PROXY=%p as %p', (value, expected) => {
    expect(
      loadAppConfig({
        DATA_DIR: dataDir,
        APP_MASTER_KEY: validKey,
        TRUST_PROXY: value,
      }).trustProxy,
    ).toEqual(expected);
  });

  it.each([
    [undefined, []],
    [' ', []],
    ['http://localhost:3000', ['http://localhost:3000']],
    [
      'https://app.example.org, http://localhost:3000 ,https://app.example.org',
      ['https://app.example.org', 'http://localhost:3000'],
    ],
    [
      'http://[::1]:8080,https://xn--bcher-kva.example',
      ['http://[::1]:8080', 'https://xn--bcher-kva.example'],
    ],
  ])('reads CORS_ALLOWED_ORIGINS=%p as %p', (value, expected) => {
    expect(
      loadAppConfig({
        DATA_DIR: dataDir,
        APP_MASTER_KEY: validKey,
        ...(value === undefined ? {} : { CORS_ALLOWED_ORIGINS: value }),
      }).corsAllowedOrigins,
    ).toEqual(expected);
  });

  it('names CORS_ALLOWED_ORIGINS and the first entry that is not an origin', () => {
    expect(() =>
      loadAppConfig({
        DATA_DIR: dataDir,
        APP_MASTER_KEY: validKey,
        CORS_ALLOWED_ORIGINS:
          'https://ok.example.org, https://bad.example.org/app',
      }),
    ).toThrow(/CORS_ALLOWED_ORIGINS.*"https:\/\/bad\.example\.org\/app"/s);
  });

  it.each([
    [undefined, 100_000_000],
    ['0', 0],
    ['4096', 4096],
    ['2GB', 2_000_000_000],
    ['512MiB', 536_870_912],
  ])('reads DOCUMENTS_MIN_FREE_SPACE=%p as %p bytes', (value, expected) => {
    expect(
      loadAppConfig({
        DATA_DIR: dataDir,
        APP_MASTER_KEY: validKey,
        ...(value === undefined ? {} : { DOCUMENTS_MIN_FREE_SPACE: value }),
      }).limits.documentsMinFreeBytes,
    ).toBe(expected);
  });

  it('says what a byte size looks like, echoing the bad value clipped', () => {
    expect(() =>
      loadAppConfig({
        DATA_DIR: dataDir,
        APP_MASTER_KEY: validKey,
        DOCUMENTS_MIN_FREE_SPACE: '100 megabytes',
      }),
    ).toThrow(
      /DOCUMENTS_MIN_FREE_SPACE: must be a byte size like 0, 4096, 500KB, 100MB, 2GB or 512MiB \(got "100 megabytes"\)/,
    );
  });

  it('reports every bad variable at once', () => {
    expect(
      problemsOf({ PORT: 'x', LOG_LEVEL: 'loud', APP_MASTER_KEY: 'short' }),
    ).toEqual(['PORT', 'LOG_LEVEL', 'APP_MASTER_KEY']);
  });

  it('rejects an idle timeout longer than the absolute session lifetime', () => {
    expect(
      problemsOf({
        APP_MASTER_KEY: validKey,
        SESSION_IDLE_TTL: '2h',
        SESSION_MAX_TTL: '1h',
      }),
    ).toEqual(['SESSION_IDLE_TTL']);
  });

  it('never echoes a bad master key or a URL password in its message', () => {
    const secret = 'c2VjcmV0LXZhbHVlLXRoYXQtaXMtdG9vLXNob3J0';
    try {
      loadAppConfig({
        DATA_DIR: dataDir,
        APP_MASTER_KEY: secret,
        DATABASE_URL: 'ftp://u:hunter2@x',
      });
      throw new Error('expected a ConfigValidationError');
    } catch (error) {
      expect((error as Error).message).toContain('APP_MASTER_KEY');
      expect((error as Error).message).toContain('DATABASE_URL');
      expect((error as Error).message).not.toContain(secret);
      expect((error as Error).message).not.toContain('hunter2');
    }
  });

  it('accepts the tracing variables the SDK reads (docs/running.md#tracing), and never echoes OTLP headers', () => {
    expect(() =>
      loadAppConfig({
        DATA_DIR: dataDir,
        APP_MASTER_KEY: validKey,
        OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector.internal:4318',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=abc==,x-team=vault',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=staging',
        OTEL_SERVICE_NAME: 'vault-api',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
        OTEL_BSP_SCHEDULE_DELAY: '1000',
      }),
    ).not.toThrow();
    let message = '';
    try {
      loadAppConfig({
        DATA_DIR: dataDir,
        APP_MASTER_KEY: validKey,
        OTEL_EXPORTER_OTLP_HEADERS: 'Bearer hunter2',
      });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(
      /OTEL_EXPORTER_OTLP_HEADERS: must be comma-separated key=value pairs \(the value is not shown/,
    );
    expect(message).not.toContain('hunter2');
  });

  it('keeps secrets out of JSON', () => {
    const config = loadAppConfig({
      DATA_DIR: dataDir,
      APP_MASTER_KEY: validKey,
      DATABASE_URL: 'postgres://app:hunter2@db/app',
    });
    const json = JSON.stringify(config);
    expect(json).not.toContain(validKey);
    expect(json).not.toContain('hunter2');
    expect(json).toContain('"serverSecrets":"[redacted]"');
  });

  it('reads LOG_PRETTY as true or false, and refuses anything else', () => {
    expect(
      loadAppConfig({ DATA_DIR: dataDir, APP_MASTER_KEY: validKey }).logPretty,
    ).toBe(false);
    expect(
      loadAppConfig({
        DATA_DIR: dataDir,
        APP_MASTER_KEY: validKey,
        LOG_PRETTY: 'true',
      }).logPretty,
    ).toBe(true);
    expect(
      loadAppConfig({
        DATA_DIR: dataDir,
        APP_MASTER_KEY: validKey,
        LOG_PRETTY: '0',
      }).logPretty,
    ).toBe(false);
    expect(
      problemsOf({ APP_MASTER_KEY: validKey, LOG_PRETTY: 'yes please' }),
    ).toEqual(['LOG_PRETTY']);
  });

  describe('APP_MASTER_KEY in production', () => {
    const production = {
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://app@db/app',
    };

    it('refuses to start without one', () => {
      expect(() => loadAppConfig({ ...production, DATA_DIR: dataDir })).toThrow(
        /APP_MASTER_KEY: is required when NODE_ENV=production/,
      );
    });

    it('says so alongside the other bad variables', () => {
      expect(problemsOf({ NODE_ENV: 'production', PORT: 'x' })).toEqual([
        'PORT',
        'DATABASE_URL',
        'APP_MASTER_KEY',
      ]);
    });

    it('refuses a short key', () => {
      expect(() =>
        loadAppConfig({
          ...production,
          DATA_DIR: dataDir,
          APP_MASTER_KEY: randomBytes(16).toString('base64'),
        }),
      ).toThrow(/APP_MASTER_KEY: must be 32 bytes, base64-encoded/);
    });

    it('refuses a placeholder key', () => {
      expect(() =>
        loadAppConfig({
          ...production,
          DATA_DIR: dataDir,
          APP_MASTER_KEY: Buffer.alloc(32).toString('base64'),
        }),
      ).toThrow(/APP_MASTER_KEY: looks like a placeholder/);
    });

    it('never generates a development key file', () => {
      expect(() =>
        loadAppConfig({ ...production, DATA_DIR: dataDir }),
      ).toThrow();
      expect(() => statSync(join(dataDir, 'master.key'))).toThrow();
    });
  });

  describe('the embedded PostgreSQL (ALLOW_EMBEDDED_POSTGRES)', () => {
    const production = { NODE_ENV: 'production', APP_MASTER_KEY: validKey };

    it('is refused in production without DATABASE_URL, naming DATABASE_URL and the opt-in', () => {
      expect(() => loadAppConfig({ ...production, DATA_DIR: dataDir })).toThrow(
        /DATABASE_URL: is required when NODE_ENV=production \(or set ALLOW_EMBEDDED_POSTGRES=true/,
      );
      expect(
        problemsOf({ ...production, ALLOW_EMBEDDED_POSTGRES: 'false' }),
      ).toEqual(['DATABASE_URL']);
    });

    it('is allowed in production with ALLOW_EMBEDDED_POSTGRES=true', () => {
      for (const value of ['true', '1']) {
        const config = loadAppConfig({
          ...production,
          DATA_DIR: dataDir,
          ALLOW_EMBEDDED_POSTGRES: value,
        });
        expect(config.isProduction).toBe(true);
        expect(config.databaseUrl).toBeUndefined();
      }
    });

    it('is allowed by default in development and test, and refused there with ALLOW_EMBEDDED_POSTGRES=false', () => {
      for (const nodeEnv of ['development', 'test']) {
        const env = { NODE_ENV: nodeEnv, APP_MASTER_KEY: validKey };
        expect(
          loadAppConfig({ ...env, DATA_DIR: dataDir }).databaseUrl,
        ).toBeUndefined();
        expect(() =>
          loadAppConfig({
            ...env,
            DATA_DIR: dataDir,
            ALLOW_EMBEDDED_POSTGRES: 'false',
          }),
        ).toThrow(
          /DATABASE_URL: is required when ALLOW_EMBEDDED_POSTGRES=false/,
        );
      }
    });

    it('is not asked for when DATABASE_URL is set, or already reported when DATABASE_URL is invalid', () => {
      expect(
        loadAppConfig({
          ...production,
          DATA_DIR: dataDir,
          DATABASE_URL: 'postgres://app@db/app',
        }).databaseUrl,
      ).toBe('postgres://app@db/app');
      expect(
        problemsOf({ ...production, DATABASE_URL: 'mysql://db/app' }),
      ).toEqual(['DATABASE_URL']);
    });
  });

  it('reads API_DOCS as true or false (default true), and refuses anything else', () => {
    const apiDocs = (value?: string) =>
      loadAppConfig({
        DATA_DIR: dataDir,
        APP_MASTER_KEY: validKey,
        ...(value === undefined ? {} : { API_DOCS: value }),
      }).apiDocs;
    expect(apiDocs()).toBe(true);
    expect(apiDocs('true')).toBe(true);
    expect(apiDocs('false')).toBe(false);
    expect(apiDocs('0')).toBe(false);
    expect(() =>
      loadAppConfig({
        DATA_DIR: dataDir,
        APP_MASTER_KEY: validKey,
        API_DOCS: 'off',
      }),
    ).toThrow(/API_DOCS: must be true or false \(got "off"\)/);
  });

  describe('APP_MASTER_KEY in development', () => {
    it('generates a key once under DATA_DIR with mode 0600 and reuses it', () => {
      const first = loadAppConfig({ DATA_DIR: dataDir });
      const second = loadAppConfig({ DATA_DIR: dataDir });
      const file = join(dataDir, 'master.key');
      expect(first.masterKeySource).toBe('development-file');
      expect(first.startupWarnings.join()).toContain(file);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(
        second.serverSecrets.pepper.equals(first.serverSecrets.pepper),
      ).toBe(true);
      const fromFile = deriveServerSecrets(
        Buffer.from(readFileSync(file, 'utf8').trim(), 'base64'),
      );
      expect(fromFile.pepper.equals(first.serverSecrets.pepper)).toBe(true);
    });

    it('does not write the key file when another variable is invalid', () => {
      expect(() => loadAppConfig({ DATA_DIR: dataDir, PORT: 'x' })).toThrow(
        ConfigValidationError,
      );
      expect(() => statSync(join(dataDir, 'master.key'))).toThrow();
    });

    it('refuses a corrupt key file instead of replacing it', () => {
      writeFileSync(join(dataDir, 'master.key'), 'garbage\n', { mode: 0o600 });
      expect(() => loadAppConfig({ DATA_DIR: dataDir })).toThrow(
        /master\.key is corrupt/,
      );
      expect(readFileSync(join(dataDir, 'master.key'), 'utf8')).toBe(
        'garbage\n',
      );
    });
  });
});
