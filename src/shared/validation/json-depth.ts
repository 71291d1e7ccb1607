import { validationFailed } from '../errors/app-error.js';

/** The contract: JSON nested deeper than this is refused (our deepest payload, users.import, is 4). */
export const MAX_JSON_DEPTH = 32;

type Container = Record<string, unknown> | unknown[];

// Only what JSON.parse makes: anything else (a Buffer, a class instance) is not walked.
function isContainer(value: unknown): value is Container {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return true;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * The top-level field under which a parsed JSON value nests deeper than `max` objects and arrays
 * (`''` when the value itself does), or undefined when it does not. Iterative on purpose: the
 * recursive walks after it (class-transformer, class-validator) overflow the stack on a value that
 * a recursive check could not even look at.
 */
export function tooDeepField(value: unknown, max = MAX_JSON_DEPTH): string | undefined {
  if (!isContainer(value)) return undefined;
  const pending: Array<{ node: Container; depth: number; field: string }> = [{ node: value, depth: 1, field: '' }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    if (next.depth > max) return next.field;
    for (const [key, child] of Object.entries(next.node)) {
      if (isContainer(child)) pending.push({ node: child, depth: next.depth + 1, field: next.field || key });
    }
  }
  return undefined;
}

/** Refuses a body or payload nested deeper than the contract allows, naming the top-level field. */
export function assertJsonDepth(value: unknown): void {
  const field = tooDeepField(value);
  if (field === undefined) return;
  const message = `JSON nested deeper than ${MAX_JSON_DEPTH} levels`;
  throw validationFailed(message, field ? [{ field, messages: [`${field} is nested deeper than ${MAX_JSON_DEPTH} levels`] }] : []);
}
