import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { deriveServerSecrets, ServerSecrets } from '../crypto/server-secrets';
import { zeroBuffer } from '@vault-pii/nest-encryption/crypto';
import { redactUrlPassword } from '@vault-pii/nest-encryption/redis';
import { parseByteSize } from './byte-size';
import { parseDurationSeconds } from './duration';
import {
  masterKeySettingProblems,
  MasterKeySource,
  resolveMasterKey,
} from './master-key';

export const NODE_ENVIRONMENTS = ['development', 'production', 'test'] as const;
export type NodeEnvironment = (typeof NODE_ENVIRONMENTS)[number];

/** AEAD for new ciphertexts (docs/crypto.md#the-envelope); both always decrypt. */
export const ENCRYPTION_ALGORITHMS = [
  'xchacha20-poly1305',
  'aes-256-gcm',
] as const;
export type EncryptionAlgorithmName = (typeof ENCRYPTION_ALGORITHMS)[number];

export const LOG_LEVELS = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** OTLP over HTTP, the encodings the trace exporter speaks (gRPC is not installed). */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;

/** The OpenTelemetry SDK's `OTEL_TRACES_SAMPLER` values. */
export const TRACE_SAMPLERS = [
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
  'always_on',
  'always_off',
  'traceidratio',
] as const;

/**
 * Express's `trust proxy`: `false` (the socket's peer is the client), a hop count, or the
 * addresses/subnets of trusted proxies. Never `true`: that would believe any X-Forwarded-For.
 */
export type TrustProxySetting = false | number | readonly string[];

/** Subnet names Express's `trust proxy` understands besides addresses and CIDRs. */
const TRUST_PROXY_SUBNET_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * The whole configuration of the service, read once from the environment
 * (docs/running.md#configuration) and validated before anything starts. Inject it by class:
 * `constructor(private config: AppConfig)`.
 */
export class AppConfig {
  readonly nodeEnv: NodeEnvironment;
  readonly port: number;
  /**
   * External PostgreSQL; when absent, `main.ts` starts the embedded server under `dataDir`, which
   * `ALLOW_EMBEDDED_POSTGRES` permits (by default everywhere but production).
   */
  readonly databaseUrl: string | undefined;
  readonly redisUrl: string | undefined;
  /** Prepended to every Redis key this app writes (vault, rate limits), to share one Redis. */
  readonly redisKeyPrefix: string;
  /**
   * How long a Redis command may go unanswered before it fails (the request gets a 503) and the
   * silent connection is dropped and re-established. Bounds every request while Redis is down.
   */
  readonly redisCommandTimeoutMs: number;
  /** Absolute path of the directory holding the embedded database, documents and dev key. */
  readonly dataDir: string;
  /**
   * The server secrets, derived from the master key as it was read (the master key itself is
   * wiped at once and never kept). In locked memory; owned by the one application built from
   * this config, which wipes them at shutdown (`ServerKeys`). Never logged (see `toJSON`).
   */
  readonly serverSecrets: ServerSecrets;
  readonly masterKeySource: MasterKeySource;
  readonly accessTokenTtlSeconds: number;
  readonly sessionIdleTtlSeconds: number;
  readonly sessionMaxTtlSeconds: number;
  readonly documentRetentionDays: number;
  readonly logLevel: LogLevel;
  /** Human-readable log lines through pino-pretty (a development dependency) instead of JSON. */
  readonly logPretty: boolean;
  readonly encryptionAlgorithm: EncryptionAlgorithmName;
  /**
   * Requests per client address to the auth routes per `authRateLimitWindowSeconds`
   * (docs/security.md#rate-limits).
   */
  readonly authRateLimit: number;
  readonly authRateLimitWindowSeconds: number;
  /** Failed logins per account per `loginFailureWindowSeconds`; then 429 until the window ends. */
  readonly loginFailureLimit: number;
  readonly loginFailureWindowSeconds: number;
  readonly trustProxy: TrustProxySetting;
  /**
   * `CORS_ALLOWED_ORIGINS`: the exact origins (`https://app.example.org`) whose browser scripts may
   * call the API (docs/http-api.md#cors). Empty, the default: no CORS headers at all.
   */
  readonly corsAllowedOrigins: readonly string[];
  /** Whether Swagger UI (`/docs`) and the OpenAPI document (`/docs-json`) are served. */
  readonly apiDocs: boolean;
  /**
   * argon2id cost for new and upgraded passwords (never below OWASP's minimum,
   * docs/crypto.md#key-hierarchy).
   */
  readonly argon2MemoryKiB: number;
  readonly argon2Iterations: number;
  readonly argon2Parallelism: number;
  /** Per-user and per-process bounds (docs/limits.md#configurable); over one: 409, 429 or 503. */
  readonly limits: ResourceLimits;
  /**
   * Where Prometheus metrics are served (docs/operations.md#metrics): a listener of its own, apart
   * from the API's, so they are never public by accident. No port: no listener.
   */
  readonly metrics: MetricsListenerSettings;
  /** Things worth a warning once the logger is up (e.g. a generated development key). */
  readonly startupWarnings: readonly string[];

  constructor(
    values: Omit<AppConfig, 'toJSON' | 'withDatabaseUrl' | 'isProduction'>,
  ) {
    Object.assign(this, values);
    Object.freeze(this);
  }

  get isProduction(): boolean {
    return this.nodeEnv === 'production';
  }

  /** The same configuration pointing at another database (the embedded one, a test database). */
  withDatabaseUrl(databaseUrl: string): AppConfig {
    return new AppConfig({ ...this, databaseUrl });
  }

  /** Keeps secrets out of anything that serialises the config (logs, error reports). */
  toJSON(): object {
    return {
      ...this,
      databaseUrl: this.databaseUrl && redactUrlPassword(this.databaseUrl),
      redisUrl: this.redisUrl && redactUrlPassword(this.redisUrl),
      serverSecrets: '[redacted]',
    };
  }
}

export interface MetricsListenerSettings {
  /** `METRICS_PORT`; undefined: no metrics listener (the default). */
  readonly port: number | undefined;
  /** `METRICS_HOST`, default 127.0.0.1 (loopback: only the machine's own scraper reaches it). */
  readonly host: string;
}

/**
 * Bounds on what one user (or all users together) can make the service hold or do, each from a
 * setting (docs/limits.md#configurable).
 */
export interface ResourceLimits {
  /** `CONTACTS_PER_USER_LIMIT`: stored contacts per user; the next create is 409 `limit_reached`. */
  readonly contactsPerUser: number;
  /** `DOCUMENTS_PER_USER_LIMIT`: stored documents per user; the next create is 409 `limit_reached`. */
  readonly documentsPerUser: number;
  /** `DOCUMENT_CREATION_LIMIT` per `DOCUMENT_CREATION_WINDOW`: document creations per user; then 429. */
  readonly documentCreations: number;
  readonly documentCreationWindowSeconds: number;
  /**
   * `DOCUMENTS_MIN_FREE_SPACE`: bytes that must stay free on the documents volume; below it
   * document creation answers 507 and readiness reports the documents check down. 0: no check.
   */
  readonly documentsMinFreeBytes: number;
  /** `SESSIONS_PER_USER_LIMIT`: live sessions per user; a login beyond it ends the oldest. */
  readonly sessionsPerUser: number;
  /** `KDF_QUEUE_LIMIT`: password checks waiting for an argon2id slot; beyond it 503 at once. */
  readonly kdfQueue: number;
  /** `KDF_QUEUE_TIMEOUT_MS`: how long a password check may wait for a slot; then 503. */
  readonly kdfQueueTimeoutMs: number;
  /** `PDF_WORKERS`: worker threads rendering PDFs, off the event loop. */
  readonly pdfWorkers: number;
  /** `PDF_QUEUE_LIMIT`: renders waiting for a worker; beyond it 503 at once. */
  readonly pdfQueue: number;
  /** `REGISTER_EMAIL_LIMIT` per `REGISTER_EMAIL_WINDOW`: register attempts per email address; then 429. */
  readonly registrationsPerEmail: number;
  readonly registrationEmailWindowSeconds: number;
  /** `ACCESS_KEYS_PER_USER_LIMIT`: access keys per user; the next create is 409 `limit_reached`. */
  readonly accessKeysPerUser: number;
  /** `ACCESS_KEY_MAX_TTL`: the furthest `expiresAt` an access key may be created with. */
  readonly accessKeyMaxTtlSeconds: number;
  /** `ACCESS_KEY_RATE_LIMIT` per `ACCESS_KEY_RATE_WINDOW`: requests per access key; then 429. */
  readonly accessKeyRequests: number;
  readonly accessKeyRateWindowSeconds: number;
}

export interface ConfigProblem {
  variable: string;
  message: string;
}

/** Start-up stops with this error; its message names every bad variable, never a secret value. */
export class ConfigValidationError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(
      'Invalid configuration:\n' +
        problems.map((p) => `  - ${p.variable}: ${p.message}`).join('\n'),
    );
    this.name = 'ConfigValidationError';
  }
}

type Environment = Record<string, string | undefined>;

/**
 * Reads and validates every variable in docs/running.md#configuration. May create the development
 * master key under `DATA_DIR` (see `resolveMasterKey`); otherwise has no side effects.
 *
 * @throws ConfigValidationError naming each invalid variable.
 */
export function loadAppConfig(env: Environment = process.env): AppConfig {
  const reader = new EnvironmentReader(env);
  const nodeEnv = reader.oneOf('NODE_ENV', NODE_ENVIRONMENTS, 'development');
  const port = reader.integer('PORT', 3000, 1, 65535);
  const databaseUrl = reader.url('DATABASE_URL', ['postgres:', 'postgresql:']);
  // The embedded server keeps the data inside DATA_DIR, on the app's own machine or volume: a
  // production deployment that forgot DATABASE_URL must not start on it unnoticed.
  const allowEmbeddedPostgres = reader.boolean(
    'ALLOW_EMBEDDED_POSTGRES',
    nodeEnv !== 'production',
  );
  // (A DATABASE_URL that is set but invalid has its own problem already.)
  if (!allowEmbeddedPostgres && reader.string('DATABASE_URL') === undefined) {
    reader.problem(
      'DATABASE_URL',
      nodeEnv === 'production'
        ? 'is required when NODE_ENV=production (or set ALLOW_EMBEDDED_POSTGRES=true to keep the database in an embedded PostgreSQL under DATA_DIR)'
        : 'is required when ALLOW_EMBEDDED_POSTGRES=false',
    );
  }
  const redisUrl = reader.url('REDIS_URL', ['redis:', 'rediss:']);
  const redisKeyPrefix =
    reader.pattern(
      'REDIS_KEY_PREFIX',
      /^[A-Za-z0-9:._-]{1,64}$/,
      'up to 64 letters, digits, ":", ".", "_" or "-"',
    ) ?? '';
  const redisCommandTimeoutMs = reader.integer(
    'REDIS_COMMAND_TIMEOUT_MS',
    1000,
    50,
    60_000,
  );
  const dataDir = resolve(reader.string('DATA_DIR') ?? './.data');
  const accessTokenTtlSeconds = reader.duration('ACCESS_TOKEN_TTL', '10m');
  const sessionIdleTtlSeconds = reader.duration('SESSION_IDLE_TTL', '30m');
  const sessionMaxTtlSeconds = reader.duration('SESSION_MAX_TTL', '12h');
  const documentRetentionDays = reader.integer(
    'DOCUMENT_RETENTION_DAYS',
    90,
    1,
    36500,
  );
  const logLevel = reader.oneOf(
    'LOG_LEVEL',
    LOG_LEVELS,
    nodeEnv === 'test' ? 'silent' : 'info',
  );
  const logPretty = reader.boolean('LOG_PRETTY', false);
  if (logPretty && !isInstalled('pino-pretty')) {
    reader.problem(
      'LOG_PRETTY',
      'needs pino-pretty, a development dependency (npm ci without --omit=dev); production logs are JSON',
    );
  }
  const encryptionAlgorithm = reader.oneOf(
    'ENCRYPTION_ALGORITHM',
    ENCRYPTION_ALGORITHMS,
    'xchacha20-poly1305',
  );
  const authRateLimit = reader.integer('AUTH_RATE_LIMIT', 100, 1, 1_000_000);
  const authRateLimitWindowSeconds = reader.duration(
    'AUTH_RATE_LIMIT_WINDOW',
    '1m',
  );
  const loginFailureLimit = reader.integer(
    'LOGIN_FAILURE_LIMIT',
    10,
    1,
    1_000_000,
  );
  const loginFailureWindowSeconds = reader.duration(
    'LOGIN_FAILURE_WINDOW',
    '15m',
  );
  const trustProxy = reader.trustProxy('TRUST_PROXY');
  const corsAllowedOrigins = reader.origins('CORS_ALLOWED_ORIGINS');
  const apiDocs = reader.boolean('API_DOCS', true);
  readTracingSettings(reader);
  // Floors are OWASP's argon2id minimum (m = 19 MiB, t = 2, p = 1); ceilings keep a typo from
  // turning every login into a denial of service.
  const argon2MemoryKiB = reader.integer(
    'ARGON2_MEMORY_KIB',
    19_456,
    19_456,
    1_048_576,
  );
  const argon2Iterations = reader.integer('ARGON2_ITERATIONS', 2, 2, 20);
  const argon2Parallelism = reader.integer('ARGON2_PARALLELISM', 1, 1, 16);
  const limits: ResourceLimits = {
    contactsPerUser: reader.integer(
      'CONTACTS_PER_USER_LIMIT',
      10_000,
      1,
      1_000_000,
    ),
    documentsPerUser: reader.integer(
      'DOCUMENTS_PER_USER_LIMIT',
      100,
      1,
      100_000,
    ),
    documentCreations: reader.integer('DOCUMENT_CREATION_LIMIT', 20, 1, 10_000),
    documentCreationWindowSeconds: reader.duration(
      'DOCUMENT_CREATION_WINDOW',
      '1h',
    ),
    documentsMinFreeBytes: reader.byteSize('DOCUMENTS_MIN_FREE_SPACE', '100MB'),
    sessionsPerUser: reader.integer('SESSIONS_PER_USER_LIMIT', 20, 1, 1000),
    kdfQueue: reader.integer('KDF_QUEUE_LIMIT', 64, 0, 100_000),
    kdfQueueTimeoutMs: reader.integer(
      'KDF_QUEUE_TIMEOUT_MS',
      3000,
      100,
      60_000,
    ),
    pdfWorkers: reader.integer('PDF_WORKERS', 2, 1, 64),
    pdfQueue: reader.integer('PDF_QUEUE_LIMIT', 32, 0, 10_000),
    registrationsPerEmail: reader.integer(
      'REGISTER_EMAIL_LIMIT',
      5,
      1,
      1_000_000,
    ),
    registrationEmailWindowSeconds: reader.duration(
      'REGISTER_EMAIL_WINDOW',
      '1h',
    ),
    accessKeysPerUser: reader.integer(
      'ACCESS_KEYS_PER_USER_LIMIT',
      20,
      1,
      1000,
    ),
    accessKeyMaxTtlSeconds: reader.duration('ACCESS_KEY_MAX_TTL', '90d'),
    accessKeyRequests: reader.integer(
      'ACCESS_KEY_RATE_LIMIT',
      600,
      1,
      1_000_000,
    ),
    accessKeyRateWindowSeconds: reader.duration('ACCESS_KEY_RATE_WINDOW', '1m'),
  };

  const metrics: MetricsListenerSettings = {
    port: reader.string('METRICS_PORT')
      ? reader.integer('METRICS_PORT', 0, 0, 65535)
      : undefined,
    host: reader.host('METRICS_HOST') ?? '127.0.0.1',
  };
  if (metrics.port !== undefined && metrics.port === port) {
    reader.problem('METRICS_PORT', 'must differ from PORT');
  }

  if (sessionIdleTtlSeconds > sessionMaxTtlSeconds) {
    reader.problem(
      'SESSION_IDLE_TTL',
      'must not be longer than SESSION_MAX_TTL',
    );
  }
  if (accessTokenTtlSeconds > sessionMaxTtlSeconds) {
    reader.problem(
      'ACCESS_TOKEN_TTL',
      'must not be longer than SESSION_MAX_TTL',
    );
  }
  // The master key comes last: a generated dev key is only written once everything else is valid.
  if (reader.problems.length > 0) {
    reader.masterKeySettingsOnly(nodeEnv);
    throw new ConfigValidationError(reader.problems);
  }

  // A secure buffer, from APP_MASTER_KEY, APP_MASTER_KEY_FILE, APP_MASTER_KEY_SEALED (PKCS#11) or the dev file.
  const masterKey = resolveMasterKey({ env, nodeEnv, dataDir });
  if ('problems' in masterKey)
    throw new ConfigValidationError(masterKey.problems);
  let serverSecrets: ServerSecrets;
  try {
    serverSecrets = deriveServerSecrets(masterKey.key);
  } finally {
    zeroBuffer(masterKey.key);
  }

  return new AppConfig({
    nodeEnv,
    port,
    databaseUrl,
    redisUrl,
    redisKeyPrefix,
    redisCommandTimeoutMs,
    dataDir,
    serverSecrets,
    masterKeySource: masterKey.source,
    accessTokenTtlSeconds,
    sessionIdleTtlSeconds,
    sessionMaxTtlSeconds,
    documentRetentionDays,
    logLevel,
    logPretty,
    encryptionAlgorithm,
    authRateLimit,
    authRateLimitWindowSeconds,
    loginFailureLimit,
    loginFailureWindowSeconds,
    trustProxy,
    corsAllowedOrigins,
    apiDocs,
    metrics,
    argon2MemoryKiB,
    argon2Iterations,
    argon2Parallelism,
    limits,
    startupWarnings: masterKey.warning ? [masterKey.warning] : [],
  });
}

/**
 * The tracing variables (docs/running.md#tracing) are read by the OpenTelemetry SDK itself, which
 * main.ts's first import starts before this runs; checked here so that a typo stops the start-up
 * like any other setting instead of being ignored by the SDK with a default.
 */
function readTracingSettings(reader: EnvironmentReader): void {
  reader.url('OTEL_EXPORTER_OTLP_ENDPOINT', ['http:', 'https:']);
  const protocol = reader.string('OTEL_EXPORTER_OTLP_PROTOCOL');
  if (protocol === 'grpc')
    reader.problem(
      'OTEL_EXPORTER_OTLP_PROTOCOL',
      'grpc is not supported: use http/protobuf (a collector listens for it on port 4318)',
    );
  else
    reader.oneOf(
      'OTEL_EXPORTER_OTLP_PROTOCOL',
      OTLP_PROTOCOLS,
      'http/protobuf',
    );
  reader.keyValueList('OTEL_EXPORTER_OTLP_HEADERS', { secret: true });
  reader.keyValueList('OTEL_RESOURCE_ATTRIBUTES', { secret: false });
  reader.pattern(
    'OTEL_SERVICE_NAME',
    /^[\x21-\x7e]{1,255}$/,
    'up to 255 printable ASCII characters without spaces',
  );
  reader.oneOf('OTEL_TRACES_SAMPLER', TRACE_SAMPLERS, 'parentbased_always_on');
  reader.fraction('OTEL_TRACES_SAMPLER_ARG');
  reader.integer('OTEL_BSP_SCHEDULE_DELAY', 5000, 0, 600_000);
}

/** Collects every problem instead of stopping at the first, so one start-up shows them all. */
class EnvironmentReader {
  readonly problems: ConfigProblem[] = [];

  constructor(private readonly env: Environment) {}

  problem(variable: string, message: string): void {
    this.problems.push({ variable, message });
  }

  string(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === ''
      ? undefined
      : value.trim();
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    const value = /^\d{1,10}$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(value) || value < min || value > max) {
      this.problem(
        name,
        `must be a whole number from ${min} to ${max} (got "${clip(raw)}")`,
      );
      return fallback;
    }
    return value;
  }

  duration(name: string, fallback: string): number {
    return this.parsed(
      name,
      fallback,
      parseDurationSeconds,
      'a duration like 600, 45s, 10m, 12h or 7d',
    );
  }

  byteSize(name: string, fallback: string): number {
    return this.parsed(
      name,
      fallback,
      parseByteSize,
      'a byte size like 0, 4096, 500KB, 100MB, 2GB or 512MiB',
    );
  }

  /** The variable (or `fallback`, which must parse) through `parse`, `undefined` meaning invalid. */
  private parsed(
    name: string,
    fallback: string,
    parse: (value: string) => number | undefined,
    expected: string,
  ): number {
    const raw = this.string(name) ?? fallback;
    const value = parse(raw);
    if (value === undefined) {
      this.problem(name, `must be ${expected} (got "${clip(raw)}")`);
      return parse(fallback) as number;
    }
    return value;
  }

  boolean(name: string, fallback: boolean): boolean {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    this.problem(name, `must be true or false (got "${clip(raw)}")`);
    return fallback;
  }

  /** A number from 0 to 1 (`0.25`), or undefined when unset. */
  fraction(name: string): number | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    const value = /^(0(\.\d{1,9})?|1(\.0{1,9})?|\.\d{1,9})$/.test(raw)
      ? Number(raw)
      : NaN;
    if (Number.isNaN(value)) {
      this.problem(name, `must be a number from 0 to 1 (got "${clip(raw)}")`);
      return undefined;
    }
    return value;
  }

  /**
   * `key=value` pairs separated by commas (OpenTelemetry's format for headers and resource
   * attributes). A secret one (headers carry collectors' API keys) is never echoed.
   */
  keyValueList(name: string, { secret }: { secret: boolean }): void {
    const raw = this.string(name);
    if (raw === undefined) return;
    const pairs = raw.split(',').map((pair) => pair.split('='));
    const valid = pairs.every(
      ([key, ...value]) => key.trim() !== '' && value.length > 0,
    );
    if (!valid)
      this.problem(
        name,
        `must be comma-separated key=value pairs${secret ? ' (the value is not shown: it may hold a credential)' : ` (got "${clip(raw)}")`}`,
      );
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      this.problem(
        name,
        `must be one of ${allowed.join(', ')} (got "${clip(raw)}")`,
      );
      return fallback;
    }
    return raw as T;
  }

  pattern(
    name: string,
    allowed: RegExp,
    description: string,
  ): string | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    if (!allowed.test(raw)) {
      this.problem(name, `must be ${description} (got "${clip(raw)}")`);
      return undefined;
    }
    return raw;
  }

  /** `false`/`0`, a hop count, or a comma-separated list of addresses, CIDRs or subnet names. */
  trustProxy(name: string): TrustProxySetting {
    const raw = this.string(name);
    if (raw === undefined || raw === 'false' || raw === '0') return false;
    if (/^\d{1,3}$/.test(raw)) {
      const hops = Number(raw);
      if (hops <= 32) return hops;
    }
    const entries = raw.split(',').map((entry) => entry.trim());
    if (raw !== 'true' && entries.every(isTrustedProxyEntry))
      return Object.freeze(entries);
    this.problem(
      name,
      `must be false, a hop count from 1 to 32, or a comma-separated list of proxy addresses, CIDRs, loopback, linklocal or uniquelocal (got "${clip(raw)}")`,
    );
    return false;
  }

  /**
   * Comma-separated web origins, each exactly as a browser sends it in `Origin`: an http(s) scheme,
   * a host and an optional port, nothing else (no path, not even "/", no wildcard).
   */
  origins(name: string): readonly string[] {
    const raw = this.string(name);
    if (raw === undefined) return Object.freeze([]);
    const entries = raw.split(',').map((entry) => entry.trim());
    const invalid = entries.filter((entry) => !isWebOrigin(entry));
    if (invalid.length > 0) {
      this.problem(
        name,
        `must be a comma-separated list of origins like https://app.example.org or http://localhost:3000 (scheme, host and port only, no path or wildcard; not an origin: "${clip(invalid[0])}")`,
      );
      return Object.freeze([]);
    }
    return Object.freeze([...new Set(entries)]);
  }

  /** An IP address or a host name to listen on. */
  host(name: string): string | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    const hostLabel = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
    const isHostName =
      raw.length <= 253 &&
      raw.split('.').every((label) => hostLabel.test(label));
    if (isIP(raw) === 0 && !isHostName) {
      this.problem(
        name,
        `must be an IP address or a host name (got "${clip(raw)}")`,
      );
      return undefined;
    }
    return raw;
  }

  /** URLs may carry passwords, so a bad one is described, never echoed. */
  url(name: string, protocols: readonly string[]): string | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      this.problem(name, 'is not a valid URL');
      return undefined;
    }
    if (!protocols.includes(parsed.protocol)) {
      this.problem(
        name,
        `must use the ${protocols.join(' or ')} scheme (got "${parsed.protocol}")`,
      );
      return undefined;
    }
    return raw;
  }

  /** The master key variables' checks that read no file and no token (see `masterKeySettingProblems`). */
  masterKeySettingsOnly(nodeEnv: NodeEnvironment): void {
    this.problems.push(...masterKeySettingProblems(this.env, nodeEnv));
  }
}

function isTrustedProxyEntry(entry: string): boolean {
  if (TRUST_PROXY_SUBNET_NAMES.includes(entry)) return true;
  const [address, prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return (
    /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128)
  );
}

/** `https://host[:port]` exactly as the URL standard serialises its origin (lower-case host, no default port). */
function isWebOrigin(entry: string): boolean {
  try {
    const url = new URL(entry);
    return (
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      url.origin === entry &&
      // The URL parser takes `*` as a host character: a wildcard would then match nothing.
      !entry.includes('*')
    );
  } catch {
    return false;
  }
}

function isInstalled(packageName: string): boolean {
  try {
    require.resolve(packageName);
    return true;
  } catch {
    return false;
  }
}

function clip(value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}…` : value;
}
