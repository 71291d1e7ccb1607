import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { Transport } from '@nestjs/microservices';
import type { Subscription } from 'rxjs';

import { GatehouseGuard } from './auth.guard.js';
import { wasGuarded } from './caller.js';

type EndHook = (transportId: Transport | symbol, context: unknown) => void;

interface RpcServer {
  transportId?: Transport | symbol;
  setOnProcessingEndHook?: (hook: EndHook) => void;
}

// Transports that hand the processing hooks the very context object the handler (and so the guard) gets.
const SAME_CONTEXT = new Set<unknown>([Transport.TCP, Transport.REDIS, Transport.NATS, Transport.MQTT, Transport.RMQ, Transport.KAFKA]);

/** The pattern of a message, from whichever transport context it is. */
function patternOf(context: unknown): string {
  const ctx = context as Record<string, unknown>;
  for (const getter of ['getPattern', 'getChannel', 'getSubject', 'getTopic']) {
    const read = ctx[getter];
    if (typeof read === 'function') return String((read as () => unknown).call(context));
  }
  return '?';
}

/**
 * Nest does not expose whether a hybrid app's microservice was connected with
 * `{ inheritAppConfig: true }`, so an uncovered microservice cannot be seen at start. What can be
 * seen is the first message it handles: when GatehouseGuard is the app's global guard (APP_GUARD)
 * and a message was handled without it running, this warns once. (@CurrentUser() refuses such
 * messages with 401 in any case.)
 */
@Injectable()
export class GuardCoverage implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('GatehouseGuard');
  private subscription?: Subscription;
  private warned = false;

  constructor(private readonly modules: ModulesContainer) {}

  onApplicationBootstrap(): void {
    if (typeof this.modules.getRpcTargetRegistry !== 'function' || !this.isAppGuard()) return;
    // A replaying registry: the microservices connected so far, then any connected later.
    this.subscription = this.modules.getRpcTargetRegistry().subscribe((target) => this.watch(target as RpcServer));
  }

  onApplicationShutdown(): void {
    this.subscription?.unsubscribe();
  }

  /** Whether an APP_GUARD provider is this guard (Nest names them `APP_GUARD (UUID: …)`). */
  private isAppGuard(): boolean {
    for (const moduleRef of this.modules.values()) {
      for (const [token, wrapper] of moduleRef.providers) {
        if (typeof token === 'string' && token.startsWith('APP_GUARD') && wrapper.instance instanceof GatehouseGuard) return true;
      }
    }
    return false;
  }

  private watch(server: RpcServer): void {
    if (!SAME_CONTEXT.has(server.transportId) || typeof server.setOnProcessingEndHook !== 'function') return;
    // Read so that a hook the app set (tracing) keeps running: Nest keeps it in a protected field.
    const previous = (server as { onProcessingEndHook?: EndHook }).onProcessingEndHook;
    server.setOnProcessingEndHook((transportId, context) => {
      if (!this.warned && !wasGuarded(context)) {
        this.warned = true;
        this.logger.warn(
          `the message "${patternOf(context)}" was handled without GatehouseGuard, the app's global guard (unless another guard refused it first): ` +
            "a hybrid app's global guards reach message patterns only when each microservice is connected with " +
            'app.connectMicroservice(options, { inheritAppConfig: true }). @CurrentUser() refuses such messages with 401, but handlers that do not ask for the caller run unguarded, ' +
            'their @Roles(), @RequireAal() and @RequireRecentAuth() unchecked.',
        );
      }
      previous?.call(server, transportId, context);
    });
  }
}
