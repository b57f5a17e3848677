/** `Retry-After` of a 503 `database_unavailable`: about how often the outage probe looks again. */
export const DATABASE_RETRY_AFTER_SECONDS = 2;

/** Socket-level failures reaching the database server (Node's `error.code`). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
]);

/**
 * SQLSTATEs that mean the server cannot serve now, whatever the query: class 08 (connection
 * exception), 57P01–57P03 (terminated by an administrator, crash shutdown, cannot connect now),
 * 53300 (too many connections).
 */
const UNAVAILABLE_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123]|53300)$/;

/** What node-postgres and its pool say when a connection dies or cannot be had in time. */
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Connection terminated due to connection timeout',
];

/**
 * Whether `error` says the database could not be reached or is not accepting work (an outage,
 * answered 503 `database_unavailable`), as opposed to a query that failed on its own (a bug or
 * a constraint, still a 500). Looks at TypeORM's wrapper (`driverError`) and at the `cause` chain.
 * Never throws.
 */
export function isDatabaseUnreachable(error: unknown): boolean {
  for (
    let current: unknown = error, depth = 0;
    current && typeof current === 'object' && depth < 5;
    depth++
  ) {
    const { code, message, driverError, cause } = current as {
      code?: unknown;
      message?: unknown;
      driverError?: unknown;
      cause?: unknown;
    };
    if (typeof code === 'string') {
      if (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code))
        return true;
    }
    if (
      typeof message === 'string' &&
      UNAVAILABLE_MESSAGES.some((known) => message.startsWith(known))
    )
      return true;
    current = driverError ?? cause;
  }
  return false;
}
