import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PEM text of a throwaway CA and of what it issued, plus a stranger CA that issued the same roles. */
export interface TestCertificates {
  ca: { cert: string };
  server: { cert: string; key: string };
  client: { cert: string; key: string };
  strangerCa: { cert: string };
  stranger: { cert: string; key: string };
}

/**
 * Makes a CA valid for a day, a server certificate for 127.0.0.1 and localhost, and a client
 * certificate from it, plus a stranger CA and a client certificate from that (with the `openssl`
 * CLI: node's crypto cannot issue certificates). The files live only while this runs.
 */
export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-certs-'));
  try {
    const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    for (const ca of ['ca', 'stranger-ca'])
      ssl('req', '-x509', ...ec, '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-subj', `/CN=${ca}`, '-days', '1');
    writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    const issue = (name: string, ca: string, ext?: string): void => {
      ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      ssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${ca}.crt`,
        '-CAkey',
        `${ca}.key`,
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '1',
        ...(ext ? ['-extfile', ext] : []),
      );
    };
    issue('server', 'ca', 'server.ext');
    issue('client', 'ca');
    issue('stranger', 'stranger-ca');
    const read = (file: string): string => readFileSync(join(dir, file), 'utf8');
    return {
      ca: { cert: read('ca.crt') },
      server: { cert: read('server.crt'), key: read('server.key') },
      client: { cert: read('client.crt'), key: read('client.key') },
      strangerCa: { cert: read('stranger-ca.crt') },
      stranger: { cert: read('stranger.crt'), key: read('stranger.key') },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
