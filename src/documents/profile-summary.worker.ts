/**
 * Piscina task (worker thread): renders the profile summary with pdfkit and streams the PDF back
 * on the task's port, asking the main thread for contacts a page at a time. Loaded by
 * `PdfRenderPool` only; it imports nothing but pdfkit and the renderer, so a worker starts fast.
 */
import { setPriority } from 'node:os';
import type {
  ContactPageMessage,
  ProfileSummaryTask,
  SummaryContact,
  WorkerMessage,
} from './pdf-render.protocol';
import { renderProfileSummary } from './profile-summary.renderer';

/**
 * Niceness of a rendering thread: below the main thread's priority, so that renders take the CPU
 * the event loop leaves idle and do not slow other users' requests (as the argon2id threads do,
 * `src/auth/kdf/threadpool-priority.ts`). On Linux, `setPriority(0, …)` applies to the calling
 * thread only; elsewhere (or when not permitted) the worker keeps the process's priority.
 */
const RENDER_NICENESS = 10;
try {
  setPriority(0, RENDER_NICENESS);
} catch {
  // Best effort: rendering still works at the process's priority.
}

/** Plaintext bytes per message to the main thread (the cipher's chunk size). */
const OUTPUT_CHUNK_BYTES = 64 * 1024;

/** The main thread closed the port: the render was abandoned (its file write failed). */
class RenderAbandonedError extends Error {
  constructor() {
    super('render abandoned by the main thread');
    this.name = 'RenderAbandonedError';
  }
}

export default async function renderProfileSummaryTask({
  header,
  port,
}: ProfileSummaryTask): Promise<void> {
  const send = (message: WorkerMessage, transfer: ArrayBuffer[] = []) =>
    port.postMessage(message, transfer);
  let waiting:
    | { resolve: (page: SummaryContact[] | null) => void; reject: () => void }
    | undefined;
  let closed = false;
  port.on('message', (message: ContactPageMessage) => {
    const pending = waiting;
    waiting = undefined;
    pending?.resolve(message.contacts);
  });
  port.on('close', () => {
    closed = true;
    waiting?.reject();
  });

  async function* contactPages(): AsyncGenerator<SummaryContact[]> {
    for (;;) {
      if (closed) throw new RenderAbandonedError();
      const page = await new Promise<SummaryContact[] | null>(
        (resolve, reject) => {
          waiting = {
            resolve,
            reject: () => reject(new RenderAbandonedError()),
          };
          send({ type: 'next-page' });
        },
      );
      if (page === null) return;
      yield page;
    }
  }

  const pdf = renderProfileSummary({ ...header, contactPages: contactPages() });
  // pdfkit writes many small buffers (one per PDF object or line): they are gathered into
  // OUTPUT_CHUNK_BYTES messages, so the main thread handles a few messages per page, not thousands.
  let output = new Uint8Array(OUTPUT_CHUNK_BYTES);
  let filled = 0;
  const flush = () => {
    if (filled === 0) return;
    let bytes: Uint8Array;
    if (filled === output.length) {
      bytes = output;
      output = new Uint8Array(OUTPUT_CHUNK_BYTES);
    } else {
      bytes = output.slice(0, filled);
      output.fill(0, 0, filled);
    }
    filled = 0;
    // Transferred: once sent, no plaintext byte of the PDF stays in this thread.
    send({ type: 'chunk', bytes }, [bytes.buffer as ArrayBuffer]);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      pdf.on('data', (chunk: Buffer) => {
        for (let offset = 0; offset < chunk.length;) {
          const n = Math.min(chunk.length - offset, output.length - filled);
          output.set(chunk.subarray(offset, offset + n), filled);
          filled += n;
          offset += n;
          if (filled === output.length) flush();
        }
        chunk.fill(0);
      });
      pdf.once('end', resolve);
      pdf.once('error', reject);
    });
    flush();
    send({ type: 'end' });
  } finally {
    output.fill(0);
    port.close();
  }
}
