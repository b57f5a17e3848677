/**
 * Polls `condition` every `intervalMs` until it holds. After `timeoutMs` it throws, naming `what`
 * and adding `detail()` (a process's output, say) when given.
 */
export async function waitUntil(
  what: string,
  condition: () => Promise<boolean> | boolean,
  {
    timeoutMs = 15_000,
    intervalMs = 20,
    detail,
  }: { timeoutMs?: number; intervalMs?: number; detail?: () => string } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting until ${what}${detail ? `\n${detail()}` : ''}`,
      );
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
