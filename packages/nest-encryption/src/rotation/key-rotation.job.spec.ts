import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { Keyring } from '../key-vault/keyring';
import type {
  KeyringUnlocked,
  SessionKeyVault,
} from '../key-vault/session-key-vault';
import type { VaultSession } from '../key-vault/vault-entry';
import { SqlKeyRotationStore } from './key-rotation-store';
import { KeyRotationJob } from './key-rotation.job';
import type { KeyRotationRunner } from './key-rotation.runner';

/** What the job hands on after an unlock: its own copies, zeroed once it is done with them. */
describe('KeyRotationJob after an unlock', () => {
  const zeroed = (buffer: Buffer) => buffer.every((byte) => byte === 0);

  async function unlockWithTwoVersions(pendingRotation: boolean) {
    let listener: ((event: KeyringUnlocked) => void) | undefined;
    const vault = {
      onKeyringUnlocked: (l: (event: KeyringUnlocked) => void) => {
        listener = l;
        return () => undefined;
      },
    } as unknown as SessionKeyVault;
    const handed: { session?: VaultSession; keyring?: Keyring } = {};
    const runner = {
      pruneSessionKeys: (session: VaultSession, keyring: Keyring) => {
        Object.assign(handed, { session, keyring });
        return Promise.resolve();
      },
      execute: (_userId: string, keyring: Keyring, session: VaultSession) => {
        Object.assign(handed, { session, keyring });
        return Promise.resolve({ outcome: 'completed' });
      },
    } as unknown as KeyRotationRunner;
    const dataSource = {
      query: () => Promise.resolve(pendingRotation ? [{ '?column?': 1 }] : []),
    } as unknown as DataSource;
    const job = new KeyRotationJob(dataSource, runner, vault, {
      store: new SqlKeyRotationStore(),
    });
    job.onModuleInit();

    const session: VaultSession = {
      sessionId: randomBytes(16).toString('hex'),
      userId: 'user-1',
      clientShare: randomBytes(32),
    };
    const keyring = new Keyring(
      session.userId,
      new Map([
        [1, randomBytes(32)],
        [2, randomBytes(32)],
      ]),
      2,
    );
    listener?.({ occasion: 'unlocked', session, keyring });
    await new Promise((resolve) => setTimeout(resolve, 20));
    return { session, keyring, handed };
  }

  it.each([
    ['prunes a finished rotation', false],
    ['resumes an unfinished rotation', true],
  ])(
    '%s with copies of the client share and keyring, and zeroes them afterwards',
    async (_name, pending) => {
      const { session, keyring, handed } = await unlockWithTwoVersions(pending);

      expect(handed.session).toBeDefined();
      expect(handed.session?.clientShare).not.toBe(session.clientShare);
      expect(zeroed(handed.session?.clientShare as Buffer)).toBe(true);
      // Pruning is the job's own use of the keyring copy; a resumed run's runner owns it.
      if (!pending) expect(handed.keyring?.isZeroed).toBe(true);
      // The request's own session and keyring are the caller's, left intact.
      expect(zeroed(session.clientShare)).toBe(false);
      expect(keyring.activeKey().length).toBe(32);
    },
  );
});
