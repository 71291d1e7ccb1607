import { RedisOptions, ServerRedis } from '@nestjs/microservices';
import type { Redis } from 'ioredis';

/** How long a request id stays claimed; far longer than any reply takes. */
const CLAIM_TTL_MS = 60_000;

/**
 * Nest's Redis transport is publish/subscribe: every instance subscribed to a pattern receives every
 * request. With several gatehouse instances that would run each login, refresh or reset once per
 * instance (and race their replies). Here each instance first claims the request id in Redis with
 * SET NX; only the winner handles it and replies. Standard Nest Redis clients need no change.
 */
export class ClaimingRedisServer extends ServerRedis {
  constructor(
    options: RedisOptions['options'],
    private readonly claimPrefix: string,
  ) {
    super(options ?? {});
  }

  override async handleMessage(channel: string, buffer: string, pub: Redis, pattern: string): Promise<unknown> {
    const id = requestId(buffer);
    if (id !== undefined) {
      const won = await pub.set(`${this.claimPrefix}:rpc-claim:${id}`, '1', 'PX', CLAIM_TTL_MS, 'NX');
      if (won !== 'OK') return undefined;
    }
    return super.handleMessage(channel, buffer, pub, pattern);
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
