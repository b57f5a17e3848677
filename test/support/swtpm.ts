import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from '@vault-pii/nest-encryption/testing';

const PROJECT_ROOT = join(__dirname, '..', '..');

/**
 * tpm2-pkcs11's PKCS#11 library (Debian package libtpm2-pkcs11-1), or TPM2_PKCS11_MODULE.
 * Debian installs it under the multiarch directory, e.g. /usr/lib/x86_64-linux-gnu/pkcs11/.
 */
export function tpm2Pkcs11Module(): string | undefined {
  if (process.env.TPM2_PKCS11_MODULE) return process.env.TPM2_PKCS11_MODULE;
  const candidates = ['/usr/lib/pkcs11/libtpm2_pkcs11.so'];
  try {
    for (const entry of readdirSync('/usr/lib'))
      candidates.push(join('/usr/lib', entry, 'pkcs11', 'libtpm2_pkcs11.so'));
  } catch {
    // No /usr/lib to search.
  }
  return candidates.find((path) => existsSync(path));
}

/** Why a software TPM with tpm2-pkcs11 cannot be used here, or `undefined` when it can. */
export function swtpmMissing(): string | undefined {
  if (spawnSync('swtpm', ['--version']).status !== 0)
    return 'swtpm not found (Debian package swtpm)';
  if (!tpm2Pkcs11Module())
    return 'libtpm2_pkcs11.so not found (Debian package libtpm2-pkcs11-1, or set TPM2_PKCS11_MODULE)';
  return undefined;
}

/**
 * A software TPM 2.0 (swtpm, libtpms) on two local TCP ports, and a tpm2-pkcs11 store in a
 * temporary directory: a token as a TPM-backed server would see it, with no resource manager
 * (tpm2-pkcs11 talks to swtpm through the swtpm TCTI, and flushes what it loads).
 *
 * The library reads TPM2_PKCS11_TCTI and TPM2_PKCS11_STORE from the real environment, so it is
 * used from child processes only (`env()`), never loaded into the test's own process.
 */
export class SwTpm {
  readonly dir = mkdtempSync(join(tmpdir(), 'swtpm-'));
  readonly modulePath = tpm2Pkcs11Module() as string;
  private child?: ChildProcess;
  private port = 0;

  /** Starts swtpm (command port P, control port P + 1, as the swtpm TCTI expects) and waits until it answers. */
  async start(): Promise<void> {
    mkdirSync(join(this.dir, 'state'));
    mkdirSync(join(this.dir, 'store'));
    for (let attempt = 1; ; attempt++) {
      this.port = await findFreePort();
      const child = spawn(
        'swtpm',
        [
          'socket',
          '--tpm2',
          '--tpmstate',
          `dir=${join(this.dir, 'state')}`,
          '--server',
          `type=tcp,port=${this.port},bindaddr=127.0.0.1`,
          '--ctrl',
          `type=tcp,port=${this.port + 1},bindaddr=127.0.0.1`,
          '--flags',
          'not-need-init,startup-clear',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr?.on(
        'data',
        (chunk: Buffer) => (stderr += chunk.toString('utf8')),
      );
      const exited = new Promise<void>((resolve) =>
        child.once('exit', () => resolve()),
      );
      const ready = await Promise.race([
        waitForPort(this.port, 5000).then(() => true),
        exited.then(() => false),
      ]).catch(() => false);
      if (ready) {
        this.child = child;
        return;
      }
      if (child.exitCode === null) child.kill('SIGKILL');
      // The control port (P + 1) may have been taken: try another pair.
      if (attempt === 3) throw new Error(`swtpm did not start: ${stderr}`);
    }
  }

  /** The variables that point tpm2-pkcs11 at this TPM and store (for child processes). */
  env(): Record<string, string> {
    return {
      TPM2_PKCS11_TCTI: `swtpm:host=127.0.0.1,port=${this.port}`,
      TPM2_PKCS11_STORE: join(this.dir, 'store'),
      // tpm2-pkcs11's own log: errors only (ESYS still reports TPM errors on stderr).
      TPM2_PKCS11_LOG_LEVEL: '0',
    };
  }

  /**
   * A token labelled `label` with user PIN `pin`, made through PKCS#11 itself (C_InitToken,
   * C_InitPIN) in a child process: tpm2-pkcs11 creates its store and primary key on the way, so
   * neither tpm2_ptool nor a resource manager is needed.
   */
  initToken(label: string, pin: string, soPin = '5678'): void {
    const script = `
      const pkcs11 = require('pkcs11js');
      const library = new pkcs11.PKCS11();
      library.load(${JSON.stringify(this.modulePath)});
      library.C_Initialize();
      try {
        const slot = library.C_GetSlotList(true).find((s) => (library.C_GetTokenInfo(s).flags & pkcs11.CKF_TOKEN_INITIALIZED) === 0);
        if (!slot) throw new Error('no free slot');
        library.C_InitToken(slot, ${JSON.stringify(soPin)}, ${JSON.stringify(label.padEnd(32, ' '))});
        const session = library.C_OpenSession(slot, pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION);
        library.C_Login(session, pkcs11.CKU_SO, ${JSON.stringify(soPin)});
        library.C_InitPIN(session, ${JSON.stringify(pin)});
        library.C_Logout(session);
        library.C_CloseSession(session);
      } finally {
        library.C_Finalize();
      }`;
    const result = spawnSync(process.execPath, ['-e', script], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH ?? '', ...this.env() },
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (result.status !== 0)
      throw new Error(
        `tpm2-pkcs11 token initialisation failed: ${result.stderr}${result.stdout}`,
      );
  }

  /** Stops swtpm (the process this object started) and removes its state and store. */
  async remove(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) =>
        child.once('exit', () => resolve()),
      );
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline)
          reject(new Error(`nothing listens on port ${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}
