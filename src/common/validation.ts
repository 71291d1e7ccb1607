import { ValidationError, ValidationPipe } from '@nestjs/common';
import { FieldError, validationFailed } from './app-error.js';

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = e.constraints ? [{ field, messages: Object.values(e.constraints) }] : [];
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/**
 * The validation pipe for REST bodies and RPC payloads alike: unknown fields are refused, and a
 * failure raises the domain error (never Nest's HttpException, which RPC callers cannot read).
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
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
