import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Client } from 'pg';

import { adminQuery, databaseUrlFor } from '../support/services';
import { freePort, testDatabaseUrl, testDataDir } from '../support/test-app';

const ROOT = resolve(__dirname, '../..');

/** Runs gatehouse as its own process from the sources until it exits; resolves to its exit code and everything it wrote. */
async function runUntilExit(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(
    process.execPath,
    [
      '--require',
      join(__dirname, '../support/ts-register.js'),
      '--require',
      join(__dirname, '../support/exit-with-parent.js'),
      join(ROOT, 'src/main.ts'),
    ],
    { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const code = await new Promise<number | null>((done) => child.once('close', (exitCode) => done(exitCode)));
  return { code, output };
}

interface LogRecord {
  level: number;
  msg?: string;
  err?: { type?: string; message?: string };
}

/** Every line of the output as a JSON log record; fails on the first line that is not one. */
function jsonLines(output: string): LogRecord[] {
  const lines = output.split('\n').filter((line) => line.trim() !== '');
  expect(lines.length).toBeGreaterThan(0);
  return lines.map((line) => {
    try {
      return JSON.parse(line) as LogRecord;
    } catch {
      throw new Error(`not a JSON line: ${line}`);
    }
  });
}

describe('start-up logs', () => {
  const name = `gatehouse_startlogs_${Date.now()}_${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    await adminQuery(`CREATE DATABASE ${name}`);
    // A table in the way of the first migration: the start must stop.
    const db = new Client({ connectionString: databaseUrlFor(name) });
    await db.connect();
    await db.query('CREATE TABLE users (legacy_id int)');
    await db.end();
  });
  afterAll(() => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));

  it('a start stopped by a failing migration writes JSON lines only, at LOG_LEVEL, naming the failure without its SQL', async () => {
    const { code, output } = await runUntilExit({
      NODE_ENV: 'test',
      DATABASE_URL: databaseUrlFor(name),
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
      RPC_HOST: '127.0.0.1',
      RPC_PORT: String(await freePort()),
      DATA_DIR: testDataDir(),
    });
    expect(code).toBe(1);
    const records = jsonLines(output);
    // Nothing below warn: Nest's start-up lines and TypeORM's migration messages are info and debug.
    expect(records.filter((r) => r.level < 40)).toEqual([]);
    const failure = records.find((r) => r.level === 50 && r.err?.message?.includes('relation "users" already exists'));
    expect(failure?.err?.type).toBe('Error');
    // The failing statement and the driver's internals stay out of the log.
    expect(output).not.toContain('CREATE TABLE');
    expect(output).not.toContain('heap_create_with_catalog');
  });

  it('a start stopped after the app is built (its HTTP port taken) ends with a JSON line too', async () => {
    const taken = createServer();
    await new Promise<void>((listening) => taken.listen(0, '127.0.0.1', listening));
    const address = taken.address();
    try {
      const { code, output } = await runUntilExit({
        NODE_ENV: 'test',
        DATABASE_URL: testDatabaseUrl(),
        LOG_LEVEL: 'warn',
        HOST: '127.0.0.1',
        PORT: String(typeof address === 'object' && address ? address.port : 0),
        RPC_HOST: '127.0.0.1',
        RPC_PORT: String(await freePort()),
        DATA_DIR: testDataDir(),
      });
      expect(code).toBe(1);
      const records = jsonLines(output);
      expect(records.filter((r) => r.level < 40)).toEqual([]);
      expect(records.at(-1)).toEqual(expect.objectContaining({ level: 60, msg: expect.stringContaining('EADDRINUSE') }));
    } finally {
      taken.close();
    }
  });
});
