import { createHash } from 'node:crypto';
import { zeroBuffer } from '@vault-pii/nest-encryption/crypto';
import {
  Pkcs11SettingError,
  readPkcs11Settings,
} from '../../src/hsm/pkcs11-settings';
import { openSealedMasterKey } from '../../src/hsm/sealed-master-key';

/**
 * Opens APP_MASTER_KEY_SEALED with the PKCS11_* variables of its environment, as the app's start-up
 * does, and prints SHA-256 of the master key (hex), or the problem and exit code 1. For tests that
 * must load a PKCS#11 library configured by environment variables in a process of its own.
 */
try {
  const key = openSealedMasterKey(
    readPkcs11Settings(process.env, 'the unseal probe'),
    process.env.APP_MASTER_KEY_SEALED ?? '',
  );
  process.stdout.write(createHash('sha256').update(key).digest('hex'));
  zeroBuffer(key);
} catch (error) {
  if (!(error instanceof Pkcs11SettingError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 1;
}
