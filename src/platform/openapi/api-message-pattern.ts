import type { Type } from '@nestjs/common';

import type { DocumentedError } from './api-errors.js';

export const MESSAGE_PATTERN_DOC = 'gatehouse:messagePatternDoc';

/** What a message pattern answers: a schema class, an array of it, one of several, or it or null. */
export type MessageReply = Type | { arrayOf: Type } | { oneOf: Type[] } | { nullable: Type };

export interface MessagePatternDoc {
  summary: string;
  reply: MessageReply;
  /** Errors the handler's services can reject with; validation and token errors are added from the handler's guards. */
  errors?: DocumentedError[];
  /** The payload class; by default the type of the handler's first parameter (the @Payload()). */
  payload?: Type;
}

/**
 * Documents a message pattern for the OpenAPI document's `x-message-patterns` list (message patterns
 * are not HTTP, so they have no paths of their own).
 */
export const ApiMessagePattern =
  (doc: MessagePatternDoc): MethodDecorator =>
  (_target, _key, descriptor) => {
    Reflect.defineMetadata(MESSAGE_PATTERN_DOC, doc, descriptor.value as object);
    return descriptor;
  };
