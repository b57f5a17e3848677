/**
 * Key rotation throughput (issue 7): a user with N contacts (5 encrypted values each, two blind
 * indexes) plus account email and profile rotates through the real HTTP route; the job's own
 * completion log gives rows, values and time. Not part of `npm test` or `npm run bench`.
 *
 *   DATABASE_URL=postgres://… npx ts-node --transpile-only bench/rotation/rotation.bench.ts [contacts=10000] [rounds=3]
 */
import request from 'supertest';
import { bearer, registerAndLogin } from '../../test/support/auth-client';
import { seedContacts } from '../../test/support/key-rotation-seed';
import { createTestApp } from '../../test/support/test-app';

async function main(): Promise<void> {
  if (!process.env.DATABASE_URL)
    throw new Error(
      'set DATABASE_URL (a PostgreSQL server where databases may be created)',
    );
  const contacts = Number(process.argv[2] ?? 10_000);
  const rounds = Number(process.argv[3] ?? 3);
  const t = await createTestApp({ env: { LOG_LEVEL: 'info' } });
  try {
    const server = t.app.getHttpServer();
    for (let round = 1; round <= rounds; round++) {
      const user = await registerAndLogin(server, {
        profile: { fullName: 'Bench Rotation', nationalId: 'NI-BENCH' },
      });
      await seedContacts(t, user.userId, user.password, contacts);
      const started = Date.now();
      const response = await request(server)
        .post('/v1/me/keys/rotate')
        .set(...bearer(user.accessToken))
        .send({ password: user.password });
      if (response.status !== 200)
        throw new Error(`rotate answered ${response.status}`);
      const answeredMs = Date.now() - started;
      let done: Record<string, unknown> | undefined;
      while (
        !(done = t.logs.find(
          (line) =>
            line.msg === 'key rotation completed: old key version destroyed' &&
            line.userId === user.userId,
        ))
      ) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const {
        rows,
        values,
        files,
        durationMs,
        reencryptMs,
        valuesPerSecond,
        rowsPerSecond,
      } = done as Record<string, number>;
      process.stdout.write(
        `round ${round}: ${contacts} contacts → ${rows} rows, ${values} values, ${files} files; ` +
          `rotate answered in ${answeredMs} ms; re-encryption ${reencryptMs} ms (${valuesPerSecond} values/s, ${rowsPerSecond} rows/s); ` +
          `old key destroyed after ${durationMs} ms\n`,
      );
    }
  } finally {
    await t.close();
  }
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
