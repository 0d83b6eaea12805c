/**
 * A throwaway certificate authority and a server certificate for 127.0.0.1/localhost, made with
 * the openssl command line (Debian's openssl), for TLS tests against local servers.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCa {
  dir: string;
  /** PEM of the CA certificate, and its file. */
  caPem: string;
  caFile: string;
  /** A server certificate signed by the CA (SAN 127.0.0.1 and localhost) and its key, PEM. */
  serverCert: string;
  serverKey: string;
  remove(): Promise<void>;
}

export async function makeTestCa(name = 'test-ca'): Promise<TestCa> {
  const dir = await mkdtemp(join(tmpdir(), `rollout-${name}-`));
  const file = (f: string) => join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
  ]);
  await run('openssl', [
    'req',
    ...ec,
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
    '-subj',
    '/CN=localhost',
  ]);
  await writeFile(file('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file('server.pem'),
    '-days',
    '2',
    '-extfile',
    file('san.ext'),
  ]);
  const [caPem, serverCert, serverKey] = await Promise.all(
    ['ca.pem', 'server.pem', 'server.key'].map((f) => readFile(file(f), 'utf8')),
  );
  return {
    dir,
    caPem: caPem!,
    caFile: file('ca.pem'),
    serverCert: serverCert!,
    serverKey: serverKey!,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
