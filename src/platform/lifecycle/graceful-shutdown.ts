import type { Server } from 'node:http';
import { Logger, type INestApplication } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';

import { trackHttpWork } from '../http/http-exchanges.js';
import { InFlightWork } from './in-flight-work.js';

/** A listener that a graceful shutdown closes to new work before waiting for the work it accepted. */
export interface RpcIntake {
  /** Takes no new connection or message from now on; calls already accepted carry on. */
  stopAccepting(): void;
  /** Once every accepted call is answered: lets the connections go, replies flushed. */
  release(): Promise<void>;
}

/** How long connections without an accepted request may stay once everything accepted is answered. */
const STRAGGLER_GRACE_MS = 1000;

function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    timer.unref();
    void promise.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Stops the service without dropping work: no new HTTP or RPC connection or message is taken, the
 * requests and calls already accepted are answered, then the application closes (the outbox worker
 * finishes its current send, background tasks and audit writes settle, pools and Redis connections
 * close). One per application; main.ts runs it on SIGTERM and SIGINT.
 */
export class GracefulShutdown {
  readonly work = new InFlightWork();
  private readonly intakes: RpcIntake[] = [];
  private readonly logger = new Logger('Shutdown');
  private draining = false;
  private stage = 'running';

  /** Counts HTTP requests in flight; once draining, each response closes its keep-alive connection. */
  watchHttp(fastify: FastifyInstance): void {
    // Counted from onRequest until the response's 'close' (sent, or its client gone), in the
    // exchanges' own hooks rather than in hooks of its own.
    trackHttpWork(fastify, () => this.work.start('http'));
    fastify.addHook('onSend', (_request, reply, payload, done) => {
      if (this.draining) void reply.header('connection', 'close');
      done(null, payload);
    });
  }

  /** An RPC listener to close to new work when the shutdown begins. */
  watchRpc<T extends RpcIntake>(intake: T): T {
    this.intakes.push(intake);
    return intake;
  }

  /**
   * Drains and closes the application. Resolves true once everything is closed, or false when the
   * deadline passed first; either way it says what it is doing, and what was left.
   */
  async run(app: INestApplication, timeoutMs: number, reason = 'shutdown requested'): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const closed = this.close(app, reason).then(() => true);
    try {
      const finished = await Promise.race([closed, deadline]);
      if (finished) this.logger.log('shutdown complete');
      else this.logger.error(`shutdown did not finish within ${timeoutMs} ms: still ${this.stage}; in flight: ${this.work.describe()}`);
      return finished;
    } finally {
      clearTimeout(timer);
    }
  }

  private async close(app: INestApplication, reason: string): Promise<void> {
    this.draining = true;
    this.stage = 'finishing accepted requests';
    this.logger.log(`${reason}: taking no new connections or messages; in flight: ${this.work.describe()}`);
    for (const intake of this.intakes) intake.stopAccepting();
    const http = app.getHttpServer() as Server;
    const httpClosed = new Promise<void>((resolve) => http.close(() => resolve()));
    // Idle keep-alive connections go now; busy ones right after their response (Connection: close).
    http.closeIdleConnections();
    await this.work.idle();
    await Promise.all(this.intakes.map((intake) => intake.release()));
    // A connection whose response went out before the drain began may be idle by now.
    http.closeIdleConnections();
    // What is left carries no accepted request: a client still sending one, or one ignoring
    // Connection: close. Each gets a short grace, then the connection goes.
    while (!(await settlesWithin(httpClosed, STRAGGLER_GRACE_MS))) {
      await this.work.idle();
      http.closeAllConnections();
    }
    this.stage = 'closing the application (outbox send, background tasks, pools)';
    await app.close();
  }
}
