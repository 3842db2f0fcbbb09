/**
 * MQTT over TLS: the server's certificate (re-read on SIGHUP without dropping connections) and,
 * with MQTT_TLS_CLIENT_CERT, client certificates checked against MQTT_TLS_CA_FILE; a verified
 * certificate's subject CN is the device identity (mTLS).
 * @module
 */
import { readFileSync } from 'node:fs';
import type { TLSSocket, TlsOptions } from 'node:tls';
import { identityIdRefusal, type IssuedIdentity } from '../../auth/identity.ts';

export interface TlsFiles {
  cert: string;
  key: string;
  ca?: string | undefined;
  clientCert: 'off' | 'optional' | 'required';
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${what}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** The files read now (at start, and again on SIGHUP). */
export function secureContextOptions(f: TlsFiles): TlsOptions {
  return {
    cert: readPem(f.cert, 'MQTT_TLS_CERT_FILE'),
    key: readPem(f.key, 'MQTT_TLS_KEY_FILE'),
    ...(f.ca ? { ca: readPem(f.ca, 'MQTT_TLS_CA_FILE') } : {}),
  };
}

export function serverOptions(f: TlsFiles): TlsOptions {
  return {
    ...secureContextOptions(f),
    requestCert: f.clientCert !== 'off',
    // required: the handshake fails without a certificate the CA signed
    rejectUnauthorized: f.clientCert === 'required',
  };
}

/**
 * The device a verified client certificate names (subject CN, a device id), with
 * when the certificate was issued (notBefore, which revocation judges), if the socket has one.
 */
export function certificateIdentity(socket: TLSSocket): IssuedIdentity | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  const cn = cert?.subject?.CN;
  const id = Array.isArray(cn) ? cn[0] : cn;
  if (typeof id !== 'string' || identityIdRefusal(id, 'device', 'certificate CN') !== undefined) return undefined;
  const issuedAtMs = Date.parse(cert.valid_from);
  return { identity: { id, role: 'device', via: 'mtls' }, issuedAtMs: Number.isNaN(issuedAtMs) ? 0 : issuedAtMs };
}
