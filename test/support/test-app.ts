import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { DestinationStream } from 'pino';
import { firstValueFrom } from 'rxjs';
import request from 'supertest';
import { DataSource } from 'typeorm';

import { createGatehouseApp } from '../../src/bootstrap';
import { loadConfig, type AppConfig } from '../../src/platform/config/app-config';
import type { GatehouseOptions } from '../../src/platform/config/gatehouse-options';
import { TEST_REDIS_URL } from './services';

export type Transports = 'tcp' | 'redis';

export interface TestApp {
  app: NestFastifyApplication;
  config: AppConfig;
  baseUrl: string;
  http: () => ReturnType<typeof request>;
  rpc: Record<Transports, RpcClient>;
  db: DataSource;
  close(): Promise<void>;
}

export interface RpcClient {
  send<T = unknown>(pattern: string, payload: unknown): Promise<T>;
  /** Resolves to the error body the call rejected with (fails the test if it succeeded). */
  fail(pattern: string, payload: unknown): Promise<Record<string, unknown>>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function testDatabaseUrl(): string {
  const url = process.env.GATEHOUSE_TEST_DATABASE_URL;
  if (!url) throw new Error('GATEHOUSE_TEST_DATABASE_URL is not set: run the tests through jest (global setup creates the database)');
  return url;
}

/** This run's directory for the services' files (mail written as files), removed when the run ends. */
export function testDataDir(): string {
  return process.env.GATEHOUSE_TEST_DATA_DIR ?? join(tmpdir(), `gatehouse-test-${process.pid}`);
}

/**
 * The environment of a service under test: this run's database, Redis and directory, loopback
 * listeners on the ports given, quick mail retries and limits out of the way; overrides win.
 */
export function testServiceEnv(
  ports: { httpPort: number; rpcPort: number },
  overrides: Record<string, string> = {},
): Record<string, string> {
  const { httpPort, rpcPort } = ports;
  return {
    NODE_ENV: 'test',
    DATABASE_URL: testDatabaseUrl(),
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: `gatehouse-test-${rpcPort}`,
    REQUIRE_EMAIL_VERIFICATION: 'false',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    PORT: String(httpPort),
    RPC_HOST: '127.0.0.1',
    RPC_PORT: String(rpcPort),
    DATABASE_POOL_SIZE: '5',
    // Mail goes to files here unless a test points SMTP_URL at its sink.
    DATA_DIR: testDataDir(),
    OUTBOX_POLL_MS: '100',
    OUTBOX_RETRY_BASE_MS: '100',
    // Tests log in far more often than a person: limits are tested where they are the subject.
    RATE_LIMIT_PER_MINUTE: '1000000',
    ...overrides,
  };
}

/** Whether the services under test show their logs: TEST_LOGS=1 does, to debug a run. */
export const SHOW_TEST_LOGS = process.env.TEST_LOGS === '1';

/** The service log lines kept for a failing test's report (see service-logs-environment.ts). */
const KEPT_LOG_LINES = 200;

/**
 * Where a service under test writes its JSON log lines: stdout with TEST_LOGS=1; otherwise kept in
 * memory, shown only with a failing test, so a run prints jest's lines. Suites that read the lines
 * pass a destination of their own.
 */
export function testLogDestination(): DestinationStream | undefined {
  if (SHOW_TEST_LOGS) return undefined;
  const holder = globalThis as { __gatehouseServiceLogs?: string[] };
  const kept = (holder.__gatehouseServiceLogs ??= []);
  return {
    write(chunk: string): void {
      for (const line of chunk.split('\n')) if (line.trim()) kept.push(line);
      if (kept.length > KEPT_LOG_LINES) kept.splice(0, kept.length - KEPT_LOG_LINES);
    },
  };
}

/**
 * Boots the real service (HTTP, TCP and Redis listeners) on free ports against this run's database,
 * with the environment overrides given.
 */
export async function startTestApp(env: Record<string, string> = {}, options: Omit<GatehouseOptions, 'config'> = {}): Promise<TestApp> {
  const rpcPort = await freePort();
  const config = loadConfig(testServiceEnv({ httpPort: 0, rpcPort }, { LOG_LEVEL: 'error', ...env }));
  const { app } = await createGatehouseApp({ logDestination: testLogDestination(), ...options, config });
  await app.startAllMicroservices();
  await app.listen({ port: 0, host: '127.0.0.1' });
  const baseUrl = await app.getUrl();
  const tcp = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port: rpcPort } });
  const clients: ClientProxy[] = [tcp];
  let redis: ClientProxy | undefined;
  if (config.redis) {
    const { host, port, db } = config.redis;
    redis = ClientProxyFactory.create({ transport: Transport.REDIS, options: { host, port, db } });
    clients.push(redis);
  }
  await Promise.all(clients.map((c) => c.connect()));
  return {
    app,
    config,
    baseUrl,
    http: () => request(baseUrl),
    rpc: { tcp: rpcClient(tcp), redis: redis ? rpcClient(redis) : missingTransport('redis') },
    db: app.get(DataSource),
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await app.close();
    },
  };
}

function rpcClient(proxy: ClientProxy): RpcClient {
  const send = <T>(pattern: string, payload: unknown): Promise<T> => firstValueFrom(proxy.send<T>(pattern, payload));
  return { send, fail: (pattern, payload) => rpcFailure(send, pattern, payload) };
}

/** Resolves to the error body a call rejected with (fails the test if it succeeded). */
export async function rpcFailure(
  send: (pattern: string, payload: unknown) => Promise<unknown>,
  pattern: string,
  payload: unknown,
): Promise<Record<string, unknown>> {
  try {
    const reply = await send(pattern, payload);
    throw new Error(`expected ${pattern} to fail, but it answered ${JSON.stringify(reply)}`);
  } catch (error) {
    if (error instanceof Error) throw error;
    return error as Record<string, unknown>;
  }
}

function missingTransport(name: string): RpcClient {
  const fail = (): never => {
    throw new Error(`${name} transport is not configured for this test app`);
  };
  return { send: fail, fail };
}

let counter = 0;
/** A unique address (and username) per call, so suites sharing one database never collide. */
export function uniqueUser(prefix = 'user'): { email: string; username: string; password: string } {
  counter += 1;
  const tag = `${prefix}${process.pid}x${Date.now().toString(36)}x${counter}`.toLowerCase();
  return { email: `${tag}@example.com`, username: tag.slice(0, 32), password: 'correct horse battery staple' };
}
