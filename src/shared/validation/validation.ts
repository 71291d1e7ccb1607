import { ArgumentMetadata, ValidationError, ValidationPipe } from '@nestjs/common';

import { FieldError, validationFailed } from '../errors/app-error.js';
import { assertJsonDepth } from './json-depth.js';

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = e.constraints ? [{ field, messages: Object.values(e.constraints) }] : [];
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/**
 * Checks the nesting depth before class-transformer and class-validator, which recurse and would
 * overflow the stack on a deeply nested value. RPC payloads arrive here without any body parser of
 * ours, so this is their check (HTTP bodies are checked when parsed, too). Values of custom
 * decorators are the app's own objects, not input.
 */
class InputValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type !== 'custom') assertJsonDepth(value);
    return super.transform(value, metadata) as Promise<unknown>;
  }
}

/**
 * The validation pipe for REST bodies and RPC payloads alike (the microservices inherit the app's
 * global pipe): unknown fields are refused, and a failure raises the domain error (never Nest's
 * HttpException, which RPC callers cannot read).
 */
export function createValidationPipe(): ValidationPipe {
  return new InputValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    stopAtFirstError: true,
    exceptionFactory: (errors) => {
      const fields = flatten(errors);
      const special = fields.find((f) => f.messages.includes(LOGIN_IDENTIFIER_REQUIRED));
      return validationFailed(special ? LOGIN_IDENTIFIER_REQUIRED : 'validation failed', fields);
    },
  });
}

/** The contract's top-level message for a login with neither email nor username. */
export const LOGIN_IDENTIFIER_REQUIRED = 'username or email is required';
