/**
 * Certificate and key files named by the configuration (TLS_CERT_FILE / TLS_KEY_FILE and the
 * like): read and checked as a usable pair, so that a bad file is refused at start like any
 * other bad setting, and again before a certificate reload (SIGHUP).
 * @module
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { Config } from './schema.ts';
import { ConfigError } from './load.ts';

/** Certificate (chain) and private key files, both PEM; the key unencrypted. */
export interface UwsTls {
  cert: string;
  key: string;
}

/** What the logs say about a certificate in use. */
export interface CertificateInfo {
  subject: string;
  serial: string;
  valid_to: string;
  fingerprint256: string;
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${what}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/**
 * Reads the files now and checks that they make a usable pair (the same check uWS makes, with
 * a message that says what is wrong). Names in messages are the config keys.
 * @throws Error with a one-line message
 */
export function checkTls(files: UwsTls, keys = { cert: 'TLS_CERT_FILE', key: 'TLS_KEY_FILE' }): CertificateInfo {
  const cert = read(files.cert, keys.cert);
  const key = read(files.key, keys.key);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`${keys.cert}: ${files.cert} is not a PEM certificate (${(err as Error).message})`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(`${keys.key}: ${files.key} is not an unencrypted PEM private key of the certificate in ${keys.cert} (${(err as Error).message})`);
  }
  return { subject: x509.subject.replaceAll('\n', ', '), serial: x509.serialNumber, valid_to: x509.validTo, fingerprint256: x509.fingerprint256 };
}

/** The serve command's HTTPS/WSS files, when set: ConfigError when they are not a usable pair. */
export function checkServeTls(config: Config): void {
  if (!config.TLS_CERT_FILE || !config.TLS_KEY_FILE) return;
  try {
    checkTls({ cert: config.TLS_CERT_FILE, key: config.TLS_KEY_FILE });
  } catch (err) {
    throw new ConfigError((err as Error).message.startsWith('TLS_KEY_FILE') ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE', `invalid configuration: ${(err as Error).message}`);
  }
}
