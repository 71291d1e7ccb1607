import type { INestApplication } from '@nestjs/common';
import { MessageHandler, Server, Transport } from '@nestjs/microservices';
import { isObservable, Observable, of, tap } from 'rxjs';
import { MetricsService, RpcTransport, rpcErrorCode } from './metrics.service.js';

const TRANSPORTS: Partial<Record<Transport, RpcTransport>> = { [Transport.TCP]: 'tcp', [Transport.REDIS]: 'redis' };

/**
 * Counts and times every message-pattern request of the app's TCP and Redis listeners. Each
 * registered handler is wrapped where the transport calls it, outside the guards, pipes and filter,
 * so a refused token, a failed validation and a service error are all seen, with the error code
 * the caller received. Call after connecting the microservices (their handlers exist from then on).
 */
export function instrumentMessageHandlers(app: INestApplication): void {
  const metrics = app.get(MetricsService, { strict: false });
  for (const microservice of (app as INestApplication & { getMicroservices?(): Array<{ getTransportServer(): unknown }> }).getMicroservices?.() ?? []) {
    const server = microservice.getTransportServer();
    if (!(server instanceof Server)) continue;
    const transport = server.transportId === undefined ? undefined : TRANSPORTS[server.transportId as Transport];
    if (transport) instrumentServer(server, transport, metrics);
  }
}

export function instrumentServer(server: Pick<Server, 'getHandlers' | 'addHandler'>, transport: RpcTransport, metrics: MetricsService): void {
  for (const [pattern, handler] of [...server.getHandlers()]) {
    if (handler.isEventHandler) continue;
    server.addHandler(pattern, measured(handler, (outcome, seconds) => metrics.observeRpc(pattern, transport, outcome, seconds)), false, handler.extras);
  }
}

/** The handler, reporting once per request how it ended (`ok` or the error code) and how long it took. */
export function measured(handler: MessageHandler, report: (outcome: string, seconds: number) => void): MessageHandler {
  return async (data: unknown, ctx?: unknown): Promise<Observable<unknown>> => {
    const start = process.hrtime.bigint();
    let reported = false;
    const done = (outcome: string): void => {
      if (reported) return;
      reported = true;
      report(outcome, Number(process.hrtime.bigint() - start) / 1e9);
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
