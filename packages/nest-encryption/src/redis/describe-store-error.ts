/**
 * Class, code and a clipped message of a store failure, for logs: ioredis messages name hosts,
 * ports and script errors, never the URL's password or a command's arguments.
 */
export function describeStoreError(error: unknown): string {
  if (!(error instanceof Error)) return typeof error;
  const code = (error as { code?: unknown }).code;
  const message =
    error.message.length > 120
      ? `${error.message.slice(0, 120)}…`
      : error.message;
  return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${message}`;
}
