import type { INestApplication } from '@nestjs/common';
import { MessageHandler, Server, Transport } from '@nestjs/microservices';
import { isObservable, Observable, of, tap } from 'rxjs';

import { rpcErrorCode } from '../../shared/errors/app-error.js';

export type MessageTransport = 'tcp' | 'redis';

/** How one message-pattern request ended: `ok`, or the contract error code its caller received. */
export interface MessageOutcome {
  pattern: string;
  transport: MessageTransport;
  outcome: string;
  seconds: number;
}

export type MessageObserver = (result: MessageOutcome) => void;

const TRANSPORTS: Partial<Record<Transport, MessageTransport>> = { [Transport.TCP]: 'tcp', [Transport.REDIS]: 'redis' };

/**
 * Reports every message-pattern request of the app's TCP and Redis listeners to the observers
 * (metrics, the request log). Each registered handler is wrapped once, where the transport calls it,
 * outside the guards, pipes and filter, so a refused token, a failed validation and a service error
 * are all seen. Plain wrapping, no async context: call after connecting the microservices.
 */
export function observeMessageHandlers(app: INestApplication, observers: MessageObserver[]): void {
  for (const microservice of (
    app as INestApplication & { getMicroservices?(): Array<{ getTransportServer(): unknown }> }
  ).getMicroservices?.() ?? []) {
    const server = microservice.getTransportServer();
    if (!(server instanceof Server)) continue;
    const transport = server.transportId === undefined ? undefined : TRANSPORTS[server.transportId as Transport];
    if (transport) observeServer(server, transport, observers);
  }
}

export function observeServer(
  server: Pick<Server, 'getHandlers' | 'addHandler'>,
  transport: MessageTransport,
  observers: MessageObserver[],
): void {
  for (const [pattern, handler] of [...server.getHandlers()]) {
    if (handler.isEventHandler) continue;
    const report = (outcome: string, seconds: number): void => {
      for (const observe of observers) observe({ pattern, transport, outcome, seconds });
    };
    server.addHandler(pattern, measured(handler, report), false, handler.extras);
  }
}

/** The handler, reporting once per request how it ended (`ok` or the error code) and how long it took. */
export function measured(handler: MessageHandler, report: (outcome: string, seconds: number) => void): MessageHandler {
  return async (data: unknown, ctx?: unknown): Promise<Observable<unknown>> => {
    const start = performance.now();
    let reported = false;
    const done = (outcome: string): void => {
      if (reported) return;
      reported = true;
      report(outcome, (performance.now() - start) / 1000);
    };
    let result: unknown;
    try {
      result = await handler(data, ctx);
    } catch (error) {
      done(rpcErrorCode(error));
      throw error;
    }
    const reply$ = isObservable(result) ? result : of(result);
    return reply$.pipe(tap({ error: (error: unknown) => done(rpcErrorCode(error)), complete: () => done('ok') }));
  };
}
