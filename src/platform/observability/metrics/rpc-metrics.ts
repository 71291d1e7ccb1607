import type { Server } from '@nestjs/microservices';

import { MessageObserver, MessageTransport, observeServer } from '../../rpc/observed-handlers.js';
import { MetricsService } from './metrics.service.js';

export { measured } from '../../rpc/observed-handlers.js';

/** Counts and times message-pattern requests per pattern, transport and outcome. */
export function rpcMetrics(metrics: MetricsService): MessageObserver {
  return ({ pattern, transport, outcome, seconds }) => metrics.observeRpc(pattern, transport, outcome, seconds);
}

export function instrumentServer(
  server: Pick<Server, 'getHandlers' | 'addHandler'>,
  transport: MessageTransport,
  metrics: MetricsService,
): void {
  observeServer(server, transport, [rpcMetrics(metrics)]);
}
