import { ArgumentMetadata, PipeTransform, Type, ValidationError, ValidationPipe, ValidationPipeOptions } from '@nestjs/common';
import { getMetadataStorage, ValidationTypes } from 'class-validator';

import { FieldError, validationFailed } from '../errors/app-error.js';
import { isSent } from './dto-helpers.js';
import { assertJsonDepth } from './json-depth.js';

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = e.constraints ? [{ field, messages: Object.values(e.constraints) }] : [];
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

const STRING_FIELDS = Symbol('gatehouse:stringFields');

/**
 * Marks a DTO whose fields are all strings (required, or @IsOmittable()) with no class-transformer decorator (no
 * @Transform, @Type, @Expose or @Exclude): a payload that is plainly valid, an object with exactly
 * those fields each a string within its length, is then accepted without class-transformer and
 * class-validator (about 10 µs of a cached `auth.verify`). The rules come from the DTO's own
 * class-validator decorators; any rule the fast check does not know, and any payload it does not
 * accept, goes through the full validation, so errors are always the pipe's own.
 */
export const StringFields = (): ClassDecorator => (target) => {
  Reflect.defineMetadata(STRING_FIELDS, true, target);
};

interface StringField {
  name: string;
  maxLength: number;
  notEmpty: boolean;
}

/** The fields of a @StringFields() DTO, or undefined when its rules are not all understood here. */
export function stringFieldsOf(metatype: Type<unknown>): StringField[] | undefined {
  // Its own mark only: a subclass may add fields or transforms of its own.
  if (Reflect.getOwnMetadata(STRING_FIELDS, metatype) !== true) return undefined;
  const fields = new Map<string, StringField & { isString: boolean }>();
  for (const rule of getMetadataStorage().getTargetValidationMetadatas(metatype, '', false, false)) {
    // @IsOmittable(): the rules apply whenever the field is sent, and the fast check only accepts
    // payloads that send every field; a payload without it goes through the full validation.
    if (rule.type === ValidationTypes.CONDITIONAL_VALIDATION && rule.constraints?.[0] === isSent && !rule.each && !rule.always) continue;
    if (rule.type !== ValidationTypes.CUSTOM_VALIDATION || rule.each || rule.always || rule.groups?.length) return undefined;
    let field = fields.get(rule.propertyName);
    if (!field) {
      field = { name: rule.propertyName, maxLength: Infinity, notEmpty: false, isString: false };
      fields.set(rule.propertyName, field);
    }
    const [limit] = (rule.constraints ?? []) as unknown[];
    if (rule.name === 'isString') field.isString = true;
    else if (rule.name === 'isNotEmpty') field.notEmpty = true;
    else if (rule.name === 'maxLength' && typeof limit === 'number') field.maxLength = Math.min(field.maxLength, limit);
    else return undefined;
  }
  const list = [...fields.values()];
  if (list.length === 0 || !list.every((field) => field.isString)) return undefined;
  return list.map(({ name, maxLength, notEmpty }) => ({ name, maxLength, notEmpty }));
}

/**
 * The DTO instance for a value that certainly passes validation, or undefined. Only JSON-shaped
 * objects with exactly the fields, each a string no longer in UTF-16 units than its limit (the
 * validator counts a surrogate pair as one character, so a longer string may still pass: it goes
 * through the full validation).
 */
function acceptPlainly(metatype: Type<unknown>, fields: StringField[], value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return undefined;
  const record = value as Record<string, unknown>;
  if (Object.keys(record).length !== fields.length) return undefined;
  for (const { name, maxLength, notEmpty } of fields) {
    if (!Object.hasOwn(record, name)) return undefined;
    const field = record[name];
    if (typeof field !== 'string' || field.length > maxLength || (notEmpty && field === '')) return undefined;
  }
  const dto = new metatype() as Record<string, unknown>;
  for (const { name } of fields) dto[name] = record[name];
  return dto;
}

/**
 * Checks the nesting depth before class-transformer and class-validator, which recurse and would
 * overflow the stack on a deeply nested value. RPC payloads arrive here without any body parser of
 * ours, so this is their check (HTTP bodies are checked when parsed, too). Values of custom
 * decorators are the app's own objects, not input, and are returned at once (as the pipe does,
 * without a promise). A @StringFields() DTO's plainly valid payload skips the full validation.
 */
class InputValidationPipe implements PipeTransform {
  private readonly full: ValidationPipe;
  private readonly fastFields = new WeakMap<Type<unknown>, StringField[] | null>();

  constructor(
    options: ValidationPipeOptions,
    private readonly fastPaths: boolean,
  ) {
    this.full = new ValidationPipe(options);
  }

  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type === 'custom') return value;
    assertJsonDepth(value);
    const metatype = metadata.metatype;
    if (metatype && this.fastPaths) {
      let fields = this.fastFields.get(metatype);
      if (fields === undefined) {
        fields = stringFieldsOf(metatype) ?? null;
        this.fastFields.set(metatype, fields);
      }
      const dto = fields && acceptPlainly(metatype, fields, value);
      if (dto !== undefined && dto !== null) return dto;
    }
    return this.full.transform(value, metadata) as Promise<unknown>;
  }
}

/**
 * The validation pipe for REST bodies and RPC payloads alike (the microservices inherit the app's
 * global pipe): unknown fields are refused, and a failure raises the domain error (never Nest's
 * HttpException, which RPC callers cannot read). `fastPaths: false` always runs the full validation
 * (the reference the fast check is tested against).
 */
export function createValidationPipe({ fastPaths = true }: { fastPaths?: boolean } = {}): PipeTransform {
  return new InputValidationPipe(
    {
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
    },
    fastPaths,
  );
}

/** The contract's top-level message for a login with neither email nor username. */
export const LOGIN_IDENTIFIER_REQUIRED = 'username or email is required';
