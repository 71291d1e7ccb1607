import { Buffer } from 'node:buffer';
import { RedisOptions, ServerRedis, type BaseRpcContext, type RedisStatus, type WritePacket } from '@nestjs/microservices';
import type { Redis } from 'ioredis';
import type { Observable } from 'rxjs';

import type { InFlightWork } from '../lifecycle/in-flight-work.js';
import { exceedsMessageLimit, MAX_MESSAGE_BYTES } from './message-limits.js';
import { RpcIntake, trackCall } from './rpc-intake.js';

/** How long a request id stays claimed; far longer than any reply takes. */
const CLAIM_TTL_MS = 60_000;
const RECONNECT_MAX_MS = 2_000;
const QUIT_TIMEOUT_MS = 1_000;

/**
 * Nest's Redis transport is publish/subscribe: every instance subscribed to a pattern receives every
 * request. With several gatehouse instances that would run each login, refresh or reset once per
 * instance (and race their replies). Here each instance first claims the request id in Redis with
 * SET NX; only the winner handles it and replies. Standard Nest Redis clients need no change.
 *
 * On shutdown an instance stops claiming (and unsubscribes), so the other instances take the new
 * requests, and the calls it has claimed are counted until their replies are published.
 */
export class ClaimingRedisServer extends ServerRedis implements RpcIntake {
  private accepting = true;

  constructor(
    options: RedisOptions['options'],
    private readonly claimPrefix: string,
    private readonly work?: InFlightWork,
  ) {
    super(options ?? {});
  }

  /** Reconnects for as long as the server runs, backing off to 2 s (Nest's default gives up at once). */
  override createRetryStrategy(times: number): number | undefined {
    if (this.isManuallyClosed) return undefined;
    return Math.min(100 * 2 ** Math.min(times, 5), RECONNECT_MAX_MS);
  }

  /**
   * Starts even while Redis is down, so that HTTP and TCP serve meanwhile: the subscriptions are
   * made on the first connection, and ioredis renews them after every reconnection.
   */
  override start(callback?: (error?: unknown) => void): void {
    const sub = this.subClient as Redis;
    const pub = this.pubClient as Redis;
    let bound = false;
    const bind = (): void => {
      if (!bound) this.bindEvents(sub, pub);
      bound = true;
    };
    sub.once('ready', bind);
    Promise.all([sub.connect(), pub.connect()]).then(
      () => {
        bind();
        callback?.();
      },
      (error: unknown) => {
        this.logger.warn(
          `Redis transport not connected (${error instanceof Error ? error.message : String(error)}): it subscribes once Redis answers`,
        );
        callback?.();
      },
    );
  }

  /** An outage is logged when it begins, not on every reconnection attempt. */
  override registerErrorListener(client: Redis): void {
    let reported = false;
    client.on('error', (error: Error) => {
      if (!reported) this.logger.warn(`Redis transport: ${error.message}; reconnecting`);
      reported = true;
    });
    client.on('ready', () => {
      reported = false;
    });
  }

  /** Nest logs every reconnection attempt (one line per connection every 2 s of an outage): only the status here. */
  override registerReconnectListener(client: { on: (event: string, fn: () => void) => void }): void {
    client.on('reconnecting', () => {
      if (!this.isManuallyClosed) this._status$.next('reconnecting' as RedisStatus);
    });
  }

  /**
   * Nest's close() QUITs both connections; during an outage the QUIT waits behind commands queued
   * for a reconnection that no longer comes (and then fails the whole application's close), and a
   * Redis that does not answer never acknowledges it. A connection that is down is dropped, one
   * that does not acknowledge the QUIT soon too: every reply was published before the shutdown got here.
   */
  override async close(): Promise<void> {
    this.isManuallyClosed = true;
    await Promise.all(
      [this.pubClient as Redis | undefined, this.subClient as Redis | undefined].map(async (client) => {
        if (!client) return;
        if (client.status === 'ready') {
          let timer: NodeJS.Timeout | undefined;
          const late = new Promise<void>((resolve) => {
            timer = setTimeout(resolve, QUIT_TIMEOUT_MS);
          });
          await Promise.race([client.quit().catch(() => undefined), late]);
          clearTimeout(timer);
        }
        client.disconnect();
      }),
    );
    this.pendingEventListeners = [];
  }

  override async handleMessage(channel: string, buffer: string, pub: Redis, pattern: string): Promise<unknown> {
    if (!this.accepting) return undefined;
    // Before anything parses it. Its id is inside the JSON and the reply channel is every caller's:
    // dropped unanswered (its caller times out) rather than answered by an id read unparsed.
    if (exceedsMessageLimit(buffer)) {
      const size = Buffer.byteLength(buffer, 'utf8');
      this.logger.warn(`Redis message of ${size} bytes on ${channel} dropped unparsed (limit ${MAX_MESSAGE_BYTES} bytes)`);
      return undefined;
    }
    const id = requestId(buffer);
    // In flight from now on: a shutdown beginning while the claim is made must wait for the reply,
    // since no other instance will answer a request claimed here.
    const claiming = this.work?.start('redis');
    try {
      if (id !== undefined) {
        const won = await pub.set(`${this.claimPrefix}:rpc-claim:${id}`, '1', 'PX', CLAIM_TTL_MS, 'NX');
        if (won !== 'OK') return undefined;
      }
      // Counted again (until its reply is published) before this resolves.
      return await super.handleMessage(channel, buffer, pub, pattern);
    } finally {
      claiming?.();
    }
  }

  protected override handleRequest(
    context: BaseRpcContext,
    produce: () => Promise<Observable<unknown>>,
    respond: (data: WritePacket) => Promise<unknown> | void,
  ): void {
    if (!this.work) return super.handleRequest(context, produce, respond);
    const tracked = trackCall(this.work, 'redis', produce, respond);
    // Nest returns the processing promise here (its type says void); handleMessage passes it on.
    return super.handleRequest(context, tracked.produce, tracked.respond);
  }

  stopAccepting(): void {
    this.accepting = false;
    // Not awaited: with Redis unreachable the command would wait for a reconnection. Claims stop anyway.
    (this.subClient as Redis | undefined)?.unsubscribe().catch(() => undefined);
  }

  /** Replies go out on the publishing connection, which Nest closes afterwards. */
  release(): Promise<void> {
    return Promise.resolve();
  }
}

function requestId(buffer: string): string | undefined {
  try {
    const packet: unknown = JSON.parse(buffer);
    const id = packet && typeof packet === 'object' ? (packet as { id?: unknown }).id : undefined;
    return typeof id === 'string' && id.length > 0 ? id : undefined;
  } catch {
    return undefined;
  }
}
