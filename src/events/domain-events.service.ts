import { Injectable } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';

import { ANY_DOMAIN_EVENT, type DomainEvent, type EventType } from './events.js';

/** Publishes domain events in-process: by type, and once more under ANY_DOMAIN_EVENT. */
@Injectable()
export class DomainEvents {
  constructor(private readonly emitter: EventEmitter2) {}

  publish(type: EventType, fields: Omit<DomainEvent, 'type' | 'at'>): void {
    const event = this.event(type, fields);
    this.emitter.emit(type, event);
    this.emitter.emit(ANY_DOMAIN_EVENT, event);
  }

  /** The same, waiting for the listeners of the type (e.g. deactivation ends every session first). */
  async publishAndWait(type: EventType, fields: Omit<DomainEvent, 'type' | 'at'>): Promise<void> {
    const event = this.event(type, fields);
    await this.emitter.emitAsync(type, event);
    this.emitter.emit(ANY_DOMAIN_EVENT, event);
  }

  private event(type: EventType, fields: Omit<DomainEvent, 'type' | 'at'>): DomainEvent {
    return { type, at: new Date().toISOString(), ...fields };
  }
}
