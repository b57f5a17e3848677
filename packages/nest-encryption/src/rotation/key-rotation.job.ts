import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnModuleInit,
} from '@nestjs/common';
import { DataSource } from 'typeorm';
import { zeroBuffer } from '../crypto';
import type { Keyring } from '../key-vault/keyring';
import {
  type KeyringUnlocked,
  SessionKeyVault,
} from '../key-vault/session-key-vault';
import type { VaultSession } from '../key-vault/vault-entry';
import type { EncryptedEntity } from './encrypted-entity-catalog';
import { KEY_ROTATION_MODULE_OPTIONS } from './key-rotation.module-definition';
import type { KeyRotationModuleOptions } from './key-rotation.options';
import { KeyRotationRunner, type RotationReport } from './key-rotation.runner';

/** After a failed run, requests of that user do not restart it sooner than this. */
const RETRY_AFTER_FAILURE_MS = 60_000;
/** How often a session holding two key versions checks for a rotation to finish or prune. */
const SESSION_RECHECK_MS = 2_000;

/**
 * When an owner's key rotation runs (docs/rotation.md#starting-a-rotation): started by the app
 * (`run`) once the new version is in force, and resumed in the background when the key vault unlocks a
 * keyring holding two versions — an unfinished rotation — at login or on any request, throttled per
 * user. One run per user at a time in this process; `KeyRotationRunner` carries each run out.
 */
@Injectable()
export class KeyRotationJob implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(KeyRotationJob.name);
  private readonly running = new Map<string, Promise<RotationReport>>();
  private readonly lastFailure = new Map<string, number>();
  private readonly lastSessionCheck = new Map<string, number>();
  private stopping = false;
  private unsubscribe?: () => void;

  constructor(
    private readonly dataSource: DataSource,
    private readonly runner: KeyRotationRunner,
    private readonly vault: SessionKeyVault,
    @Inject(KEY_ROTATION_MODULE_OPTIONS)
    private readonly options: Pick<KeyRotationModuleOptions, 'store'>,
  ) {}

  onModuleInit(): void {
    this.unsubscribe = this.vault.onKeyringUnlocked((event) =>
      this.keyringUnlocked(event),
    );
  }

  /** Lets the current batches finish, then stops every run; their rows stay for the next start. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    this.runner.stop();
    await Promise.allSettled([...this.running.values()]);
  }

  get encryptedEntities(): readonly EncryptedEntity[] {
    return this.runner.encryptedEntities;
  }

  isRunning(userId: string): boolean {
    return this.running.has(userId);
  }

  /**
   * Runs (or joins the run of) the re-encryption of `userId`'s data. Takes ownership of
   * `keyring`, which must hold the rotation's old and new versions. When `session` is given, its
   * vault entry is re-stored without the destroyed key once the rotation completes.
   */
  run(
    userId: string,
    keyring: Keyring,
    session?: VaultSession,
  ): Promise<RotationReport> {
    const existing = this.running.get(userId);
    if (existing) {
      keyring.zero();
      return existing;
    }
    const run = this.runner
      .execute(userId, keyring, session)
      .then(
        (report) => {
          if (report.outcome === 'completed') this.lastFailure.delete(userId);
          return report;
        },
        (error: unknown) => {
          forgetOlderThan(this.lastFailure, RETRY_AFTER_FAILURE_MS, Date.now());
          this.lastFailure.set(userId, Date.now());
          throw error;
        },
      )
      .finally(() => this.running.delete(userId));
    this.running.set(userId, run);
    return run;
  }

  private keyringUnlocked({
    occasion,
    session,
    keyring,
  }: KeyringUnlocked): void {
    if (occasion === 'opened') this.resumeAfterLogin(session.userId, keyring);
    else this.afterUnlock(session, keyring);
  }

  /** After a login: a user holding two key versions has an unfinished rotation; finish it in the background. */
  private resumeAfterLogin(userId: string, keyring: Keyring): void {
    if (keyring.versions.length < 2) return;
    this.resumeInBackground(userId, keyring.copy());
  }

  /**
   * After each unlock of a session's entry, free unless its keyring holds two versions: then a
   * rotation is (or was) under way — it is resumed if no process runs it, or, once it has
   * finished, the session's vault entry is re-stored without the destroyed key. Never delays or
   * fails the request.
   */
  private afterUnlock(session: VaultSession, keyring: Keyring): void {
    if (
      keyring.versions.length < 2 ||
      this.running.has(session.userId) ||
      this.stopping
    )
      return;
    const now = Date.now();
    if (
      now - (this.lastSessionCheck.get(session.userId) ?? 0) <
      SESSION_RECHECK_MS
    )
      return;
    forgetOlderThan(this.lastSessionCheck, SESSION_RECHECK_MS, now);
    this.lastSessionCheck.set(session.userId, now);
    const copy = keyring.copy();
    const ownSession = {
      ...session,
      clientShare: Buffer.from(session.clientShare),
    };
    void this.resumeOrPrune(ownSession, copy).catch((error: unknown) =>
      this.logger.warn(
        { userId: session.userId, err: { type: (error as Error)?.name } },
        'key rotation check failed',
      ),
    );
  }

  private async resumeOrPrune(
    session: VaultSession,
    keyring: Keyring,
  ): Promise<void> {
    let pending: boolean;
    try {
      pending = await this.options.store.isPending(
        this.dataSource,
        session.userId,
      );
    } catch (error) {
      keyring.zero();
      zeroBuffer(session.clientShare);
      throw error;
    }
    if (pending) {
      this.resumeInBackground(session.userId, keyring, session);
      return;
    }
    try {
      await this.runner.pruneSessionKeys(session, keyring);
    } finally {
      keyring.zero();
      zeroBuffer(session.clientShare);
    }
  }

  /** Takes ownership of `keyring` and of `session`'s client share (a copy), zeroing both. */
  private resumeInBackground(
    userId: string,
    keyring: Keyring,
    session?: VaultSession,
  ): void {
    const failedAt = this.lastFailure.get(userId);
    if (
      this.stopping ||
      (failedAt !== undefined && Date.now() - failedAt < RETRY_AFTER_FAILURE_MS)
    ) {
      keyring.zero();
      if (session) zeroBuffer(session.clientShare);
      return;
    }
    // The runner logs its own failures.
    void this.run(userId, keyring, session)
      .catch(() => undefined)
      .finally(() => session && zeroBuffer(session.clientShare));
  }
}

/**
 * Drops the entries of `times` (user id → when) older than `ageMs`, which no longer hold anything
 * back, once the map has grown: one entry per user seen would otherwise stay for the uptime.
 */
export function forgetOlderThan(
  times: Map<string, number>,
  ageMs: number,
  now: number,
  keepUpTo = 64,
): void {
  if (times.size < keepUpTo) return;
  for (const [key, at] of times) if (now - at >= ageMs) times.delete(key);
}
