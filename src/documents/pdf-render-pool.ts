import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { AsyncResource } from 'node:async_hooks';
import { extname, join } from 'node:path';
import { Readable } from 'node:stream';
import { MessageChannel, MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import {
  ServiceBusyError,
  TooManyRequestsError,
} from '../common/problem/too-many-requests.error';
import { AppConfig } from '../config/app-config';
import type {
  ContactPageMessage,
  ProfileSummaryHeader,
  ProfileSummaryTask,
  SummaryContact,
  WorkerMessage,
} from './pdf-render.protocol';

/**
 * The worker module beside this one, in the form this process runs: `.js` from `dist/` (`npm
 * start`, `node dist/main.js`, Docker), `.ts` under Jest or ts-node. A worker thread does not
 * inherit Jest's transform or ts-node's hook, so from `.ts` it registers ts-node (a development
 * dependency, transpile only) for itself.
 */
function workerOptions(): {
  filename: string;
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
} {
  const extension = extname(__filename);
  const filename = join(__dirname, `profile-summary.worker${extension}`);
  if (extension !== '.ts') return { filename };
  return {
    filename,
    execArgv: [
      ...process.execArgv,
      '--require',
      require.resolve('ts-node/register/transpile-only'),
    ],
    env: {
      ...process.env,
      TS_NODE_PROJECT: join(__dirname, '..', '..', 'tsconfig.json'),
    },
  };
}

/** Seconds a client is told to wait when its own render is still running. */
const USER_RENDER_RETRY_AFTER_SECONDS = 2;
/** Seconds a client is told to wait when every worker and queue place is taken. */
const QUEUE_FULL_RETRY_AFTER_SECONDS = 5;
/** Idle workers exit after this long (started again on demand). */
const WORKER_IDLE_MS = 60_000;

/** Rendering failed in the worker or the worker died: the request answers 500, nothing is kept. */
export class PdfRenderError extends Error {
  readonly code = 'ERR_PDF_RENDER';
  constructor() {
    // No cause and no message from the worker: either could quote the PII being drawn.
    super('the PDF could not be rendered');
    this.name = 'PdfRenderError';
  }
}

/** A place in the pool, held for one document creation; `release` gives it back (idempotent). */
export interface RenderAdmission {
  /**
   * Renders the profile summary in a worker thread: the PDF as a stream of plaintext chunks, each
   * a buffer the caller owns (and wipes once written). Contacts are read from `pages` only as the
   * worker asks for them and the stream's reader keeps up, so memory stays bounded. Destroying the
   * stream stops the worker's render.
   */
  render(
    header: ProfileSummaryHeader,
    pages: AsyncIterator<SummaryContact[]>,
  ): Readable;
  release(): void;
}

/**
 * PDF rendering off the event loop (docs/documents.md#rendering-and-writing): pdfkit runs in
 * `PDF_WORKERS` worker threads (piscina), started on demand. At most `PDF_QUEUE_LIMIT` more
 * creations may wait for one (beyond: 503 `service_unavailable`), and each user has at most one
 * creation admitted at a time on this instance (another: 429), so one user's storm cannot hold
 * every worker. Keys, the database and the file stay in the main thread: the worker gets the
 * fields it draws and sends the PDF's bytes back.
 */
@Injectable()
export class PdfRenderPool implements OnApplicationShutdown {
  private readonly pool: Piscina<ProfileSummaryTask, void>;
  /** Owners with a creation admitted (running, or waiting for a worker). */
  private readonly admitted = new Set<string>();
  private readonly capacity: number;
  private readonly queueLimit: number;

  constructor(config: AppConfig) {
    const { pdfWorkers, pdfQueue } = config.limits;
    this.queueLimit = pdfQueue;
    this.capacity = pdfWorkers + pdfQueue;
    this.pool = new Piscina({
      ...workerOptions(),
      minThreads: 0,
      maxThreads: pdfWorkers,
      idleTimeout: WORKER_IDLE_MS,
      // Admission below bounds the queue; piscina's own limit would only repeat it.
      maxQueue: Infinity,
    });
  }

  /**
   * @throws TooManyRequestsError (429) when this owner already has a creation admitted.
   * @throws ServiceBusyError (503) when every worker and every queue place is taken.
   */
  admit(ownerId: string): RenderAdmission {
    if (this.admitted.has(ownerId)) {
      throw new TooManyRequestsError(
        USER_RENDER_RETRY_AFTER_SECONDS,
        'A document of yours is being rendered; try again once it is done.',
        { limit: 'PDF_RENDERS_PER_USER', max: 1 },
      );
    }
    if (this.admitted.size >= this.capacity) {
      throw new ServiceBusyError(
        QUEUE_FULL_RETRY_AFTER_SECONDS,
        'Too many documents are being rendered right now; try again shortly.',
        { limit: 'PDF_QUEUE_LIMIT', max: this.queueLimit },
      );
    }
    this.admitted.add(ownerId);
    let released = false;
    return {
      render: (header, pages) => this.render(header, pages),
      release: () => {
        if (released) return;
        released = true;
        this.admitted.delete(ownerId);
      },
    };
  }

  /** The worker threads alive now (for tests that kill one). */
  get threads(): readonly { terminate(): Promise<number> }[] {
    return this.pool.threads;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool.destroy();
  }

  private render(
    header: ProfileSummaryHeader,
    pages: AsyncIterator<SummaryContact[]>,
  ): Readable {
    const { port1, port2 } = new MessageChannel();
    const pdf = new RenderedPdf(port1, pages);
    this.pool
      .run({ header, port: port2 }, { transferList: [port2] })
      .catch(() => pdf.destroy(new PdfRenderError()));
    return pdf;
  }
}

/**
 * The main thread's end of one render: a Readable of the worker's PDF chunks that serves the
 * worker's requests for contacts only while its reader keeps up (backpressure across threads).
 */
class RenderedPdf extends Readable {
  private pageWanted = false;
  private fetching = false;
  /** Whether the last push left room in the buffer. */
  private room = true;

  constructor(
    private readonly port: MessagePort,
    private readonly pages: AsyncIterator<SummaryContact[]>,
  ) {
    super();
    // Whoever reads this stream (a pipeline) learns of an error from `errored` as well, even one
    // raised before it attached or after it detached; without a listener, Node would throw the
    // 'error' event as an uncaught exception and take the process down.
    this.on('error', () => undefined);
    // In the request's async context: reading contacts needs the owner's keyring from it.
    port.on(
      'message',
      AsyncResource.bind((message: WorkerMessage) => this.receive(message)),
    );
  }

  override _read(): void {
    this.room = true;
    this.sendPageIfReady();
  }

  override _destroy(
    error: Error | null,
    callback: (error?: Error | null) => void,
  ): void {
    this.port.close(); // the worker stops at its next page
    void this.pages.return?.().catch(() => undefined);
    callback(error);
  }

  private receive(message: WorkerMessage): void {
    if (this.destroyed) return;
    switch (message.type) {
      case 'chunk':
        this.room = this.push(
          Buffer.from(
            message.bytes.buffer,
            message.bytes.byteOffset,
            message.bytes.byteLength,
          ),
        );
        break;
      case 'next-page':
        this.pageWanted = true;
        this.sendPageIfReady();
        break;
      case 'end':
        this.port.close();
        this.push(null);
        break;
    }
  }

  private sendPageIfReady(): void {
    if (!this.pageWanted || !this.room || this.fetching || this.destroyed)
      return;
    this.pageWanted = false;
    this.fetching = true;
    this.pages.next().then(
      (next) => {
        this.fetching = false;
        if (this.destroyed) return;
        const message: ContactPageMessage = {
          type: 'page',
          contacts: next.done ? null : next.value,
        };
        this.port.postMessage(message);
      },
      (error: Error) => {
        this.fetching = false;
        // A page that fails after the PDF has ended changes nothing: the file is complete.
        if (!this.destroyed && !this.readableEnded) this.destroy(error);
      },
    );
  }
}
