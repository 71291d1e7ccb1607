import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { startTestApp, TestApp, testDataDir, uniqueUser } from '../support/test-app';

/** Without SMTP_URL, mail is written as .eml files holding live links: private to the service's user. */
describe('development mail written to files', () => {
  let t: TestApp;
  let dataDir: string;

  beforeAll(async () => {
    mkdirSync(testDataDir(), { recursive: true });
    dataDir = mkdtempSync(join(testDataDir(), 'mail-files-'));
    // A folder made before, open to everyone, is narrowed at the first mail.
    mkdirSync(join(dataDir, 'mail'), { mode: 0o777 });
    t = await startTestApp({ DATA_DIR: dataDir, REQUIRE_EMAIL_VERIFICATION: 'true' });
  });
  afterAll(async () => {
    await t.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('writes each mail 0600 in a 0700 folder', async () => {
    const u = uniqueUser('files');
    await t.http().post('/auth/register').send(u).expect(202);
    const folder = join(dataDir, 'mail');
    let files: string[] = [];
    for (let i = 0; i < 200 && files.length === 0; i += 1) {
      files = readdirSync(folder).filter((f) => f.endsWith('.eml'));
      if (files.length === 0) await new Promise((r) => setTimeout(r, 25));
    }
    expect(files).toHaveLength(1);
    const file = join(folder, files[0]);
    expect(readFileSync(file, 'utf8')).toContain('/verify-email?token=');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(folder).mode & 0o777).toBe(0o700);
  });
});
