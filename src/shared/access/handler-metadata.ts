import type { ExecutionContext, Type } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';

/**
 * Reads a metadata key of a handler or its controller (the handler's value wins, as with
 * Reflector.getAllAndOverride), once per handler and class: decorators never change at run time,
 * and a global guard asks on every request.
 */
export function handlerMetadata<T>(reflector: Reflector, key: string, fallback: T): (context: ExecutionContext) => T {
  const byClass = new WeakMap<Type<unknown>, WeakMap<object, T>>();
  return (context) => {
    const controller = context.getClass();
    const handler = context.getHandler();
    let byHandler = byClass.get(controller);
    if (!byHandler) {
      byHandler = new WeakMap();
      byClass.set(controller, byHandler);
    }
    let value = byHandler.get(handler);
    if (value === undefined) {
      value = reflector.getAllAndOverride<T | undefined>(key, [handler, controller]) ?? fallback;
      byHandler.set(handler, value);
    }
    return value;
  };
}
