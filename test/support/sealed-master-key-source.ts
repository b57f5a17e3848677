import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runMasterKeyCommand, SOFTHSM_MODULE, SoftHsm } from './softhsm';

/** A master key sealed on a SoftHSM2 token, and what the app needs to open it. */
export interface SealedMasterKey {
  /** The app's variables: APP_MASTER_KEY_SEALED, PKCS11_* (PIN through PKCS11_PIN_FILE), SOFTHSM2_CONF. */
  env: Record<string, string>;
  /** The token's user PIN (a JavaScript string in the app, as the binding takes it). */
  pin: string;
  hsm: SoftHsm;
}

/**
 * A new SoftHSM2 token in a temporary directory, and `masterKey` sealed under an AES-256 key
 * created on it by the real `npm run master-key -- seal` (the key given in base64 on standard
 * input, as an operator would). The sealed file and the PIN file go to `dir` (mode 0600).
 * Call `hsm.remove()` when done.
 */
export async function sealMasterKeyInSoftHsm(
  masterKey: Buffer,
  dir: string,
): Promise<SealedMasterKey> {
  const hsm = new SoftHsm();
  const pin = `pin-${randomBytes(8).toString('hex')}`;
  try {
    hsm.initToken('core-dump', pin);
    const pinFile = join(dir, 'pkcs11.pin');
    writeFileSync(pinFile, `${pin}\n`, { mode: 0o600 });
    const sealedFile = join(dir, 'master-key.sealed.json');
    const pkcs11 = {
      PKCS11_MODULE: SOFTHSM_MODULE,
      PKCS11_TOKEN_LABEL: 'core-dump',
      PKCS11_KEY_LABEL: 'master-key-seal',
      PKCS11_PIN_FILE: pinFile,
      SOFTHSM2_CONF: hsm.conf,
    };
    const sealed = await runMasterKeyCommand(['seal', '--out', sealedFile], {
      env: pkcs11,
      input: `${masterKey.toString('base64')}\n`,
      via: 'npm',
    });
    if (sealed.code !== 0)
      throw new Error(
        `npm run master-key -- seal failed (${sealed.code}): ${sealed.stderr}${sealed.stdout}`,
      );
    return { env: { APP_MASTER_KEY_SEALED: sealedFile, ...pkcs11 }, pin, hsm };
  } catch (error) {
    hsm.remove();
    throw error;
  }
}
