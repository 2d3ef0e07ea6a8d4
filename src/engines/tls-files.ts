/**
 * Certificates and keys as the user gives them: a file path, or the PEM text itself (from a secret).
 * A driver wants the text; a server or a tool (pg_dump, primary_conninfo, CHANGE MASTER) wants a file.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserError } from '../errors.js';

/** Whether a value is PEM text rather than the path of a file. */
export function isPem(value: string): boolean {
  return /-----BEGIN [A-Z0-9 ]+-----/.test(value);
}

/** The PEM text of a value: itself, or the contents of the file it names. `what` names the parameter and input for the error. */
export function readPem(value: string, what: string): string {
  if (isPem(value)) return value.replace(/\\n/g, '\n');
  try {
    return readFileSync(value, 'utf8');
  } catch (e) {
    throw new UserError(
      `${what}: cannot read the file ${JSON.stringify(value)} (${(e as NodeJS.ErrnoException).code ?? String(e)}). Give the path of a PEM file on the machine zdm runs on, or the PEM text itself (-----BEGIN CERTIFICATE----- ...) from a secret.`,
      { cause: e },
    );
  }
}

let dir: string | undefined;

/** A file holding the PEM text: the value itself when it is a path, else a 0600 file in a private directory removed at exit. */
export function pemFile(value: string, what: string): string {
  if (!isPem(value)) {
    if (!existsSync(value)) readPem(value, what);
    return value;
  }
  if (!dir) {
    dir = mkdtempSync(path.join(os.tmpdir(), 'zdm-tls-'));
    const made = dir;
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
  }
  const file = path.join(dir, createHash('sha256').update(value).digest('hex').slice(0, 16) + '.pem');
  if (!existsSync(file)) {
    writeFileSync(file, readPem(value, what), { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  return file;
}
