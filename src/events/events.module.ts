import { Global, Module } from '@nestjs/common';

import { DomainEvents } from './domain-events.service.js';
import { RedisEventsPublisher } from './redis-events.publisher.js';

@Global()
@Module({ providers: [DomainEvents, RedisEventsPublisher], exports: [DomainEvents] })
export class EventsModule {}
