import {
  existsSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { expect } from '@jest/globals';
import request from 'supertest';
import { AppMetrics } from '../src/common/metrics/app-metrics';
import { sampleValue } from '../src/common/metrics/testing/sample-value';
import type { ProblemDetails } from '../src/common/problem/problem-details';
import { DocumentRetentionService } from '../src/documents/document-retention.service';
import type { DocumentDto } from '../src/documents/dto/document.dto';
import { bearer, LoggedInUser, registerAndLogin } from './support/auth-client';
import { bodyOf, Json } from './support/http-body';
import { expectProblem } from './support/problem-assertions';
import { createTestApp, TestApp } from './support/test-app';

/**
 * The text drawn in a pdfkit PDF: its content streams are deflated and write text as hex strings
 * (split by kerning), so inflate each stream and join the strings.
 */
function pdfText(pdf: Buffer): string {
  let text = '';
  for (const match of pdf
    .toString('latin1')
    .matchAll(/stream\n([\s\S]*?)\nendstream/g)) {
    let content: string;
    try {
      content = inflateSync(Buffer.from(match[1], 'latin1')).toString('latin1');
    } catch {
      continue; // not a deflated content stream (e.g. font data)
    }
    for (const hex of content.matchAll(/<([0-9a-fA-F]+)>/g))
      text += Buffer.from(hex[1], 'hex').toString('latin1');
  }
  return text;
}

describe('documents (docs/documents.md, issue 5)', () => {
  let t: TestApp;
  let user: LoggedInUser;
  const http = () => request(t.app.getHttpServer());
  const documentsDir = () => join(t.config.dataDir, 'documents');
  const PII = {
    fullName: 'Ada Lovelace',
    nationalId: 'QQ123456C',
    phone: '+44 20 7946 0958',
  };

  beforeAll(async () => {
    t = await createTestApp({
      env: {
        AUTH_RATE_LIMIT: '100000',
        LOGIN_FAILURE_LIMIT: '100000',
        DOCUMENT_RETENTION_DAYS: '30',
      },
    });
    user = await registerAndLogin(t.app.getHttpServer(), { profile: PII });
    await http()
      .post('/v1/contacts')
      .set(...bearer(user.accessToken))
      .send({ fullName: 'Charles Babbage', email: 'charles@example.org' });
  });
  afterAll(() => t?.close());

  async function createDocument(owner = user): Promise<Json<DocumentDto>> {
    const response = await http()
      .post('/v1/documents')
      .set(...bearer(owner.accessToken))
      .send({ kind: 'profile-summary' });
    expect(response.status).toBe(201);
    return bodyOf<DocumentDto>(response);
  }

  it('renders the profile summary, stores it encrypted, and serves the decrypted PDF', async () => {
    const created = await createDocument();
    expect(created).toMatchObject({
      kind: 'profile-summary',
      filename: expect.stringMatching(
        /^profile-summary-\d{4}-\d{2}-\d{2}\.pdf$/,
      ),
    });
    expect(
      new Date(created.expiresAt).getTime() -
        new Date(created.createdAt).getTime(),
    ).toBe(30 * 86_400_000);

    const onDisk = readFileSync(join(documentsDir(), `${created.id}.vpd`));
    expect(onDisk.includes(Buffer.from('%PDF'))).toBe(false);
    for (const value of [
      ...Object.values(PII),
      'Charles',
      'Babbage',
      'Lovelace',
    ]) {
      expect(onDisk.includes(Buffer.from(value))).toBe(false);
    }

    const content = await http()
      .get(`/v1/documents/${created.id}/content`)
      .set(...bearer(user.accessToken))
      .responseType('blob');
    expect(content.status).toBe(200);
    expect(content.headers['content-type']).toBe('application/pdf');
    expect(content.headers['content-disposition']).toBe(
      `attachment; filename="${created.filename}"`,
    );
    expect(content.headers['cache-control']).toBe('no-store');
    const pdf = content.body as Buffer;
    expect(pdf.length).toBe(created.sizeBytes);
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    expect(pdf.subarray(-6).toString()).toContain('%%EOF');
    const text = pdfText(pdf);
    expect(text).toContain('Full name: Ada Lovelace');
    expect(text).toContain('National ID: QQ123456C');
    expect(text).toContain(`Account: ${user.email}`);
    expect(text).toContain('Charles Babbage');
  });

  it('lists, shows and deletes; another user gets 404; the row carries no plaintext', async () => {
    const created = await createDocument();
    const list = await http()
      .get('/v1/documents')
      .set(...bearer(user.accessToken));
    expect(
      bodyOf<{ items: DocumentDto[] }>(list).items.map((d) => d.id),
    ).toContain(created.id);
    expect(
      (
        await http()
          .get(`/v1/documents/${created.id}`)
          .set(...bearer(user.accessToken))
      ).body,
    ).toEqual(created);

    const [row] = await t.dataSource.query<Record<string, unknown>[]>(
      'SELECT * FROM documents WHERE id = $1',
      [created.id],
    );
    expect(JSON.stringify(row)).not.toContain('profile-summary-');

    const other = await registerAndLogin(t.app.getHttpServer());
    for (const path of [
      `/v1/documents/${created.id}`,
      `/v1/documents/${created.id}/content`,
      '/v1/documents/not-a-uuid',
    ]) {
      expect(
        (
          await http()
            .get(path)
            .set(...bearer(other.accessToken))
        ).status,
      ).toBe(404);
    }
    expect(
      (
        await http()
          .delete(`/v1/documents/${created.id}`)
          .set(...bearer(other.accessToken))
      ).status,
    ).toBe(404);
    expect(
      (
        await http()
          .get('/v1/documents')
          .set(...bearer(other.accessToken))
      ).body,
    ).toEqual({ items: [], nextCursor: null });

    expect(
      (
        await http()
          .delete(`/v1/documents/${created.id}`)
          .set(...bearer(user.accessToken))
      ).status,
    ).toBe(204);
    expect(existsSync(join(documentsDir(), `${created.id}.vpd`))).toBe(false);
    expect(
      (
        await http()
          .get(`/v1/documents/${created.id}`)
          .set(...bearer(user.accessToken))
      ).status,
    ).toBe(404);
  });

  it.each([
    ['an unknown kind', { kind: 'tax-return' }],
    ['no kind', {}],
    ['an unknown field', { kind: 'profile-summary', path: '/etc/passwd' }],
  ])('rejects %s with 400', async (_name, body) => {
    const response = await http()
      .post('/v1/documents')
      .set(...bearer(user.accessToken))
      .send(body);
    expect(response.status).toBe(400);
    expect(bodyOf<ProblemDetails>(response).code).toBe('validation_failed');
  });

  describe('tampering', () => {
    async function download(id: string): Promise<{
      status?: number;
      body?: Buffer;
      error?: Error;
      problem?: { code: string };
    }> {
      try {
        const response = await http()
          .get(`/v1/documents/${id}/content`)
          .set(...bearer(user.accessToken))
          .responseType('blob');
        const body = response.body as Buffer;
        const problem = response.headers['content-type']?.includes('problem')
          ? (JSON.parse(body.toString()) as { code: string })
          : undefined;
        return { status: response.status, body, problem };
      } catch (error) {
        return { error: error as Error };
      }
    }

    function expectNoCompletePdf(
      result: Awaited<ReturnType<typeof download>>,
      sizeBytes: number,
    ): void {
      if (result.error) return; // the connection was cut: no complete body was delivered
      if (result.status === 500) {
        expect(result.problem?.code).toBe('data_integrity_error');
        return;
      }
      // Anything else must not be a complete, valid-looking PDF.
      expect(result.body?.length ?? 0).toBeLessThan(sizeBytes);
    }

    it('detects a flipped byte in the first chunk before sending anything (500 problem)', async () => {
      const created = await createDocument();
      const path = join(documentsDir(), `${created.id}.vpd`);
      const bytes = readFileSync(path);
      bytes[bytes.length > 200 ? 150 : bytes.length - 20] ^= 0x01;
      writeFileSync(path, bytes);
      const integrityFailures = () =>
        sampleValue(
          t.app.get(AppMetrics).registry,
          'vault_pii_encrypted_column_integrity_failures_total',
          { table: 'documents', column: 'content' },
        );
      const failuresBefore = (await integrityFailures()) ?? 0;
      const result = await download(created.id);
      expect(result.status).toBe(500);
      expect(result.problem?.code).toBe('data_integrity_error');
      expect(await integrityFailures()).toBe(failuresBefore + 1);
      const events = await t.dataSource.query<{ n: number }[]>(
        "SELECT count(*)::int AS n FROM audit_events WHERE event = 'data.integrity_failure'",
      );
      expect(events[0].n).toBeGreaterThan(0);
    });

    it('detects a truncated file', async () => {
      const created = await createDocument();
      const path = join(documentsDir(), `${created.id}.vpd`);
      const bytes = readFileSync(path);
      writeFileSync(path, bytes.subarray(0, bytes.length - 10));
      expectNoCompletePdf(await download(created.id), created.sizeBytes);
    });

    it('detects a file swapped in from another document', async () => {
      const a = await createDocument();
      const b = await createDocument();
      writeFileSync(
        join(documentsDir(), `${a.id}.vpd`),
        readFileSync(join(documentsDir(), `${b.id}.vpd`)),
      );
      const result = await download(a.id);
      expect(result.status).toBe(500);
      expect(result.problem?.code).toBe('data_integrity_error');
    });

    it('keeps serving after integrity failures', async () => {
      expect((await http().get('/health/live')).status).toBe(200);
      const fresh = await createDocument();
      expect((await download(fresh.id)).status).toBe(200);
    });
  });

  describe('retention and orphans (no keys needed)', () => {
    it('deletes expired documents, orphan files and stray temp files; keeps and reports rows without files', async () => {
      const retention = t.app.get(DocumentRetentionService);
      const keep = await createDocument();
      const expire = await createDocument();
      const lostFile = await createDocument();

      // Orphan file: a document file whose row is gone, and a stray temp file, both old.
      const orphanId = '00000000-0000-4000-8000-000000000001';
      const orphan = join(documentsDir(), `${orphanId}.vpd`);
      const stray = join(documentsDir(), `${orphanId}.vpd.tmp`);
      writeFileSync(orphan, 'x');
      writeFileSync(stray, 'x');
      const old = new Date(Date.now() - 2 * 3_600_000);
      utimesSync(orphan, old, old);
      utimesSync(stray, old, old);
      // Row without file (an old one; a young one may belong to a document being created).
      const { rmSync } = await import('node:fs');
      rmSync(join(documentsDir(), `${lostFile.id}.vpd`));
      await t.dataSource.query(
        `UPDATE documents SET created_at = now() - interval '2 hours' WHERE id = $1`,
        [lostFile.id],
      );

      await t.dataSource.query(
        `UPDATE documents SET expires_at = now() - interval '1 minute' WHERE id = $1`,
        [expire.id],
      );
      const report = await retention.run(new Date());
      expect(report).toMatchObject({
        expired: 1,
        orphanFiles: 1,
        strayFiles: 1,
        missingFiles: 1,
        sweepSkipped: false,
      });
      expect(existsSync(join(documentsDir(), `${expire.id}.vpd`))).toBe(false);
      expect(existsSync(orphan)).toBe(false);
      expect(existsSync(stray)).toBe(false);
      expect(existsSync(join(documentsDir(), `${keep.id}.vpd`))).toBe(true);
      const ids = (
        await t.dataSource.query<{ id: string }[]>('SELECT id FROM documents')
      ).map((r) => r.id);
      expect(ids).toContain(keep.id);
      expect(ids).not.toContain(expire.id);
      // Only expiry deletes a document: the file may be on a volume mounted late.
      expect(ids).toContain(lostFile.id);
      const missing = await http()
        .get(`/v1/documents/${lostFile.id}/content`)
        .set(...bearer(user.accessToken));
      expectProblem(missing, 503, 'document_file_unavailable');

      // With a clock past the retention period, everything goes.
      const later = await retention.run(new Date(Date.now() + 31 * 86_400_000));
      expect(later.expired).toBeGreaterThan(0);
      expect(
        readdirSync(documentsDir()).filter((name) => name.endsWith('.vpd')),
      ).toEqual([]);
    });

    it('account deletion removes the user’s files at once', async () => {
      const owner = await registerAndLogin(t.app.getHttpServer());
      const created = await createDocument(owner);
      expect(existsSync(join(documentsDir(), `${created.id}.vpd`))).toBe(true);
      await http()
        .delete('/v1/me')
        .set(...bearer(owner.accessToken))
        .send({ password: owner.password })
        .expect(204);
      expect(existsSync(join(documentsDir(), `${created.id}.vpd`))).toBe(false);
    });

    it('a missing documents folder (a volume not mounted) deletes nothing and makes the instance unready', async () => {
      const retention = t.app.get(DocumentRetentionService);
      const kept = await createDocument();
      await t.dataSource.query(
        `UPDATE documents SET created_at = now() - interval '2 hours'`,
      );
      const rowsBefore = await t.dataSource.query<{ id: string }[]>(
        'SELECT id FROM documents ORDER BY id',
      );
      const { renameSync } = await import('node:fs');
      const away = `${documentsDir()}.unmounted`;
      renameSync(documentsDir(), away);
      try {
        const report = await retention.run(new Date());
        expect(report).toMatchObject({ sweepSkipped: true, missingFiles: 0 });
        expect(
          await t.dataSource.query('SELECT id FROM documents ORDER BY id'),
        ).toEqual(rowsBefore);
        const ready = await http().get('/health/ready');
        expect(ready.status).toBe(503);
        expect(bodyOf<{ code: string }>(ready).code).toBe('not_ready');
        expect(
          bodyOf<{ checks: Record<string, string> }>(ready).checks,
        ).toMatchObject({
          database: 'up',
          vault: 'up',
          documents: 'down',
        });
        const download = await http()
          .get(`/v1/documents/${kept.id}/content`)
          .set(...bearer(user.accessToken));
        expectProblem(download, 503, 'document_file_unavailable');
      } finally {
        renameSync(away, documentsDir());
      }
      const ready = await http().get('/health/ready').expect(200);
      expect(
        bodyOf<{ checks: Record<string, string> }>(ready).checks,
      ).toMatchObject({
        documents: 'up',
      });
      await http()
        .get(`/v1/documents/${kept.id}/content`)
        .set(...bearer(user.accessToken))
        .expect(200);
    });

    it('leaves a young row without its file alone (created after the file inventory was taken)', async () => {
      const young = await createDocument();
      const { rmSync } = await import('node:fs');
      rmSync(join(documentsDir(), `${young.id}.vpd`));
      const report = await t.app.get(DocumentRetentionService).run(new Date());
      expect(report.missingFiles).toBe(0);
      const ids = await t.dataSource.query<unknown[]>(
        'SELECT id FROM documents WHERE id = $1',
        [young.id],
      );
      expect(ids).toHaveLength(1);
    });

    it('leaves a young file alone (a document being written right now)', async () => {
      const young = join(
        documentsDir(),
        '00000000-0000-4000-8000-000000000002.vpd',
      );
      writeFileSync(young, 'x');
      await t.app.get(DocumentRetentionService).run(new Date());
      expect(existsSync(young)).toBe(true);
      expect(statSync(young).size).toBe(1);
    });
  });
});
