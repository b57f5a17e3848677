/**
 * The core-dump test's control process: holds one random key in an ordinary Buffer and another in
 * `secureAlloc` memory, prints both (hex) on one line and waits to be dumped. A scan of its dump
 * must find the first and not the second, or the scan (or the secure memory) proves nothing.
 *
 * Both keys are made in place by libsodium, so no other copy of their bytes exists: the hex text
 * printed is text, not the bytes searched for.
 */
import sodium from 'sodium-native';
import { secureAlloc } from '@vault-pii/nest-encryption/crypto';

const ordinary = Buffer.alloc(32);
sodium.randombytes_buf(ordinary);
const secure = secureAlloc(32);
sodium.randombytes_buf(secure);

// Kept reachable for as long as the process runs.
(globalThis as { heldKeys?: Buffer[] }).heldKeys = [ordinary, secure];
process.stdout.write(
  `${JSON.stringify({ ordinary: ordinary.toString('hex'), secure: secure.toString('hex') })}\n`,
);
setInterval(() => undefined, 60_000);
