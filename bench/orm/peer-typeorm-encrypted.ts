/**
 * The peer package `typeorm-encrypted` 0.8.0. Its peer range (typeorm ^0.3.7) excludes our
 * TypeORM 1.1.1, so it lives in its own package, `bench/peer-typeorm-encrypted/` (own lockfile,
 * `legacy-peer-deps` so that no TypeORM 0.3 is installed there). Only its `EncryptionTransformer`
 * is loaded, and its `require('typeorm')` resolves to ours: every variant shares one ORM.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ValueTransformer } from 'typeorm';

const PACKAGE_DIR = join(__dirname, '..', 'peer-typeorm-encrypted');
const TRANSFORMER_MODULE = join(
  PACKAGE_DIR,
  'node_modules',
  'typeorm-encrypted',
  'lib',
  'transformer.js',
);

interface PeerEncryptionOptions {
  key: string;
  algorithm: string;
  ivLength: number;
  iv?: string;
  authTagLength?: number;
}

type PeerTransformerClass = new (
  options: PeerEncryptionOptions,
) => ValueTransformer;

/** Installs the sub-package from its lockfile when a clean clone has not yet. */
export function ensurePeerInstalled(progress: (message: string) => void): void {
  if (existsSync(TRANSFORMER_MODULE)) return;
  progress(
    'orm: installing the peer typeorm-encrypted (npm ci --prefix bench/peer-typeorm-encrypted)',
  );
  execFileSync(
    'npm',
    ['ci', '--prefix', PACKAGE_DIR, '--no-audit', '--no-fund'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
}

/**
 * The peer's transformer configured as its README recommends (a key in hex, one transformer per
 * column), with its authenticated mode AES-256-GCM and — unlike the README's example — no fixed
 * `iv`, so it draws a random 12-byte IV per value.
 */
export function peerTransformer(): ValueTransformer {
  const ours = require.resolve('typeorm');
  const theirs = require.resolve('typeorm', {
    paths: [join(PACKAGE_DIR, 'node_modules', 'typeorm-encrypted')],
  });
  if (ours !== theirs)
    throw new Error(
      `the peer would load another TypeORM (${theirs}); remove it from ${PACKAGE_DIR}`,
    );
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a path inside the peer's own install, resolved at run time: no import can name it
  const { EncryptionTransformer } = require(TRANSFORMER_MODULE) as {
    EncryptionTransformer: PeerTransformerClass;
  };
  return new EncryptionTransformer({
    key: randomBytes(32).toString('hex'),
    algorithm: 'aes-256-gcm',
    ivLength: 12,
  });
}
