import type { WritePacket } from '@nestjs/microservices';
import type { Observable } from 'rxjs';

import { AppError, ErrorCode } from '../../shared/errors/app-error.js';
import type { RpcIntake } from '../lifecycle/graceful-shutdown.js';
import type { InFlightWork, WorkKind } from '../lifecycle/in-flight-work.js';

export type { RpcIntake };

/** The answer to a call that reaches a listener already shutting down. */
export function shuttingDown(): ReturnType<AppError['toBody']> {
  return new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'the service is shutting down').toBody();
}

type Produce = () => Promise<Observable<unknown>>;
type Respond = (data: WritePacket) => Promise<unknown> | void;

/**
 * Counts one request-response call as in flight until its last packet (the one marked isDisposed,
 * which Nest always sends) has been handed to the transport, or until producing the answer failed.
 */
export function trackCall(work: InFlightWork, kind: WorkKind, produce: Produce, respond: Respond): { produce: Produce; respond: Respond } {
  const done = work.start(kind);
  return {
    produce: async () => {
      try {
        return await produce();
      } catch (error) {
        done();
        throw error;
      }
    },
    respond: async (data) => {
      try {
        return await respond(data);
      } finally {
        if (data.isDisposed) done();
      }
    },
  };
}
