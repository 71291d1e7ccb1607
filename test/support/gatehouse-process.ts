import { ChildProcess, spawn } from 'node:child_process';
import { get } from 'node:http';
import { join, resolve } from 'node:path';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import request from 'supertest';

import { freePort, rpcFailure, testServiceEnv } from './test-app';

const ROOT = resolve(__dirname, '../..');
const PRELOADS = [join(__dirname, 'ts-register.js'), join(__dirname, 'exit-with-parent.js')];
const OUTPUT_LIMIT = 256 * 1024;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Date.now() when the process ended. */
  at: number;
}

export interface GatehouseProcess {
  readonly pid: number;
  readonly baseUrl: string;
  readonly httpPort: number;
  readonly rpcPort: number;
  readonly env: Record<string, string>;
  http(): ReturnType<typeof request>;
  /** A TCP message-pattern client on this process (connected on first use, closed by stop()). */
  rpc<T = unknown>(pattern: string, payload: unknown): Promise<T>;
  /** Resolves to the error body the call rejected with (throws if it succeeded). */
  rpcFail(pattern: string, payload: unknown): Promise<Record<string, unknown>>;
  /** Everything the process wrote to stdout and stderr so far (the last 256 KB). */
  output(): string;
  kill(signal: NodeJS.Signals): void;
  readonly exited: Promise<Exit>;
  /** Ends the process (SIGKILL unless it has exited) and waits for it; safe to call any number of times. */
  stop(): Promise<void>;
}

/**
 * Runs gatehouse as its own OS process from the TypeScript sources (no build step), on free ports
 * against this run's database and Redis, and resolves once GET /health/live answers. Separate
 * processes share nothing in memory (Passport's strategies, caches, timers), as real instances do.
 */
export async function startGatehouseProcess(overrides: Record<string, string> = {}): Promise<GatehouseProcess> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startOnce(overrides);
    } catch (error) {
      // A port found free can be taken before the process listens on it (by an outgoing connection's
      // ephemeral port, say): then start again on other ports, unless the test chose them.
      const pinned = overrides.PORT !== undefined || overrides.RPC_PORT !== undefined;
      if (pinned || attempt >= 3 || !(error instanceof PortTakenError)) throw error;
    }
  }
}

class PortTakenError extends Error {}

async function startOnce(overrides: Record<string, string>): Promise<GatehouseProcess> {
  const [httpPort, rpcPort] = [await freePort(), await freePort()];
  const env = testServiceEnv({ httpPort, rpcPort }, overrides);
  const child = spawn(process.execPath, [...PRELOADS.flatMap((p) => ['--require', p]), join(ROOT, 'src/main.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<Exit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, at: Date.now() })));
  const baseUrl = `http://127.0.0.1:${httpPort}`;
  let tcp: ClientProxy | undefined;

  const stop = async (): Promise<void> => {
    await tcp?.close();
    tcp = undefined;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };

  try {
    await waitUntilLive(baseUrl, child, exited);
  } catch (error) {
    await stop();
    const Failure = output.includes('EADDRINUSE') ? PortTakenError : Error;
    throw new Failure(`gatehouse process did not start: ${(error as Error).message}\n--- its output ---\n${output.slice(-8000)}`, {
      cause: error,
    });
  }

  const send = async <T>(pattern: string, payload: unknown): Promise<T> => {
    tcp ??= ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port: rpcPort } });
    return firstValueFrom(tcp.send<T>(pattern, payload));
  };
  return {
    pid: child.pid!,
    baseUrl,
    httpPort,
    rpcPort,
    env,
    http: () => request(baseUrl),
    rpc: send,
    rpcFail: (pattern, payload) => rpcFailure(send, pattern, payload),
    output: () => output,
    kill: (signal) => void child.kill(signal),
    exited,
    stop,
  };
}

async function waitUntilLive(baseUrl: string, child: ChildProcess, exited: Promise<Exit>, ms = 30_000): Promise<void> {
  let ended: Exit | undefined;
  void exited.then((exit) => (ended = exit));
  const deadline = Date.now() + ms;
  for (;;) {
    if (ended) throw new Error(`it exited with ${ended.code ?? ended.signal}`);
    if (await answers(`${baseUrl}/health/live`)) return;
    if (Date.now() > deadline) throw new Error(`GET /health/live did not answer within ${ms} ms (pid ${child.pid})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get(url, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.setTimeout(2000, () => req.destroy());
  });
}

/** Runs the keys CLI (src/cli/keys.ts) as its own process, as an operator would; resolves to its stdout. */
export function runKeysCli(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--require', PRELOADS[0], join(ROOT, 'src/cli/keys.ts'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolvePromise(stdout.trim()) : reject(new Error(`keys ${args.join(' ')} exited with ${code}: ${stderr}`)),
    );
  });
}
