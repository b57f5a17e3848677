import type { MessagePort } from 'node:worker_threads';

/**
 * Messages between `PdfRenderPool` (main thread) and `profile-summary.worker.ts` (a worker thread),
 * on a MessagePort of their own per render. The worker gets only the plaintext fields it draws;
 * keys, the database and the file never leave the main thread.
 */

/** The fields of a contact that the profile summary draws (never its notes or ids). */
export interface SummaryContact {
  fullName: string;
  email: string | null;
  phone: string | null;
  address: string | null;
}

/** What the render task starts with; the contacts follow a page at a time on `port`. */
export interface ProfileSummaryHeader {
  email: string;
  profile: Record<string, string | null>;
  generatedAt: Date;
}

export interface ProfileSummaryTask {
  header: ProfileSummaryHeader;
  /** Transferred to the worker: it asks for pages and sends PDF bytes back on it. */
  port: MessagePort;
}

/** Main thread → worker: the next page of contacts, or `null` once there are no more. */
export interface ContactPageMessage {
  type: 'page';
  contacts: SummaryContact[] | null;
}

/** Worker → main thread. */
export type WorkerMessage =
  /** Ready for the next page of contacts (sent once the previous one has been drawn). */
  | { type: 'next-page' }
  /** PDF bytes in order; the buffer is transferred, so the worker keeps no copy. */
  | { type: 'chunk'; bytes: Uint8Array }
  /** The PDF is complete: every chunk has been sent. */
  | { type: 'end' };
