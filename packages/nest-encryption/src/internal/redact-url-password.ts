/**
 * `url` with its password replaced by `***`, for log lines and test names that name a Redis or
 * PostgreSQL server; a string that is not a URL becomes a placeholder rather than being echoed.
 */
export function redactUrlPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '[unparseable url]';
  }
}
