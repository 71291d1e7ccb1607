import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { eventually } from '../support/fault-load';

/** Whether something accepts connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once('error', () => resolvePromise(false));
  });
}

interface Started {
  pg: { port: number; dir: string };
  redis: { port: number; dir: string };
}

// The servers the fault tests start must not outlive the test run, however it ends: Ctrl-C
// (SIGINT, which skips 'exit' handlers) or a kill.
describe('servers of the tests own', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'gatehouse-own-servers-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it.each(['SIGINT', 'SIGKILL'] as const)('stop, their directories removed, when the test process dies by %s', async (signal) => {
    const script = join(scratch, `start-${signal}.ts`);
    writeFileSync(
      script,
      `
      import { OwnPostgres, OwnRedis } from ${JSON.stringify(resolve(__dirname, '../support/own-servers.ts'))};
      async function main(): Promise<void> {
        const pg = await OwnPostgres.create();
        await pg.start();
        const redis = await OwnRedis.create();
        await redis.start();
        const dirs = pg as unknown as { dir: string };
        process.stdout.write(JSON.stringify({ pg: { port: pg.port, dir: dirs.dir }, redis: { port: redis.port, dir: (redis as unknown as { dir: string }).dir } }) + '\\n');
        setInterval(() => undefined, 1000);
      }
      void main();
    `,
    );
    const child = spawn(process.execPath, ['--require', resolve(__dirname, '../support/ts-register.js'), script], {
      cwd: resolve(__dirname, '../..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolvePromise) => child.once('exit', () => resolvePromise()));
    const started = await eventually('the servers started', 60_000, () =>
      output.includes('\n') ? (JSON.parse(output) as Started) : undefined,
    );
    expect(await listening(started.pg.port)).toBe(true);
    expect(await listening(started.redis.port)).toBe(true);
    expect(existsSync(started.pg.dir)).toBe(true);

    child.kill(signal);
    await exited;
    await eventually('PostgreSQL gone', 10_000, async () => !(await listening(started.pg.port)));
    await eventually('Redis gone', 10_000, async () => !(await listening(started.redis.port)));
    await eventually('their directories removed', 10_000, () => !existsSync(started.pg.dir) && !existsSync(started.redis.dir));
  });
});
