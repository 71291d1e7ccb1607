import 'reflect-metadata';

import type { ArgumentMetadata, Type } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';

import { AccessTokenDto, RefreshDto, RestRefreshDto, RpcRefreshDto } from '../../src/auth/dto/auth.dto';
import { AppError } from '../../src/shared/errors/app-error';
import { createValidationPipe, StringFields, stringFieldsOf } from '../../src/shared/validation/validation';

@StringFields()
class PairDto {
  @IsString()
  @IsNotEmpty()
  @MaxLength(4)
  a: string;

  @IsString()
  b: string;
}

@StringFields()
class OptionalFieldDto {
  @IsOptional()
  @IsString()
  a?: string;
}

class UnmarkedDto {
  @IsString()
  a: string;
}

@StringFields()
class MarkedParentDto {
  @IsString()
  a: string;
}

class TrimmingChildDto extends MarkedParentDto {
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value))
  @IsString()
  declare a: string;
}

const deep = (levels: number): unknown => (levels === 0 ? 'x' : { d: deep(levels - 1) });

/** The answer of a pipe: the DTO (its class and fields) or the contract's error body. */
async function outcome(pipe: ReturnType<typeof createValidationPipe>, value: unknown, metatype: Type<unknown>): Promise<unknown> {
  const metadata: ArgumentMetadata = { type: 'body', metatype };
  try {
    const result: unknown = await pipe.transform(value, metadata);
    return {
      class: (result as object | null)?.constructor?.name,
      value: result === null || typeof result !== 'object' ? result : { ...result },
    };
  } catch (error) {
    return error instanceof AppError ? { error: error.toBody() } : { thrown: String(error) };
  }
}

describe('the validation pipe fast path for @StringFields() DTOs', () => {
  const fast = createValidationPipe();
  const full = createValidationPipe({ fastPaths: false });

  it('derives the fields and their rules from the class-validator decorators', () => {
    expect(stringFieldsOf(AccessTokenDto)).toEqual([{ name: 'accessToken', maxLength: 8192, notEmpty: false }]);
    expect(stringFieldsOf(PairDto)).toEqual([
      { name: 'a', maxLength: 4, notEmpty: true },
      { name: 'b', maxLength: Infinity, notEmpty: false },
    ]);
  });

  it('takes no fast path for an unmarked DTO, an optional field, or a subclass of a marked DTO', () => {
    expect(stringFieldsOf(UnmarkedDto)).toBeUndefined();
    expect(stringFieldsOf(OptionalFieldDto)).toBeUndefined();
    expect(stringFieldsOf(TrimmingChildDto)).toBeUndefined();
  });

  const accessTokenPayloads: Array<[string, unknown]> = [
    ['a token', { accessToken: 'eyJ.payload.sig' }],
    ['an empty string', { accessToken: '' }],
    ['a token at the length limit', { accessToken: 't'.repeat(8192) }],
    ['a token over the length limit', { accessToken: 't'.repeat(8193) }],
    ['a token over the limit in UTF-16 units, within it in characters', { accessToken: '\u{1F600}'.repeat(5000) }],
    ['no field', {}],
    ['null', { accessToken: null }],
    ['a number', { accessToken: 42 }],
    ['an array', { accessToken: ['eyJ'] }],
    ['an object', { accessToken: { token: 'eyJ' } }],
    ['an extra field', { accessToken: 'eyJ', admin: true }],
    ['only an unknown field', { token: 'eyJ' }],
    ['a __proto__ key', JSON.parse('{"__proto__": {"admin": true}, "accessToken": "eyJ"}') as unknown],
    ['an object without a prototype', Object.assign(Object.create(null) as object, { accessToken: 'eyJ' })],
    ['a nesting over the depth limit', { accessToken: 'eyJ', extra: deep(40) }],
    ['a string payload', 'eyJ'],
    ['a number payload', 7],
    ['a null payload', null],
    ['no payload', undefined],
    ['an array payload', [{ accessToken: 'eyJ' }]],
  ];

  it.each(accessTokenPayloads)('answers %s to AccessTokenDto exactly as the full validation does', async (_name, payload) => {
    const expected = await outcome(full, payload, AccessTokenDto);
    expect(await outcome(fast, payload, AccessTokenDto)).toEqual(expected);
  });

  it('answers the same errors for AccessTokenDto as before: shape and messages (the first rule that fails)', async () => {
    expect(await outcome(fast, { accessToken: 42 }, AccessTokenDto)).toEqual({
      error: {
        statusCode: 400,
        code: 'VALIDATION_FAILED',
        message: 'validation failed',
        errors: [{ field: 'accessToken', messages: ['accessToken must be shorter than or equal to 8192 characters'] }],
      },
    });
    expect(await outcome(fast, { accessToken: 'eyJ', admin: true }, AccessTokenDto)).toEqual({
      error: {
        statusCode: 400,
        code: 'VALIDATION_FAILED',
        message: 'validation failed',
        errors: [{ field: 'admin', messages: ['property admin should not exist'] }],
      },
    });
  });

  it('hands the handler a DTO instance holding only the field', async () => {
    const dto = await fast.transform({ accessToken: 'eyJ' }, { type: 'body', metatype: AccessTokenDto });
    expect(dto).toBeInstanceOf(AccessTokenDto);
    expect({ ...(dto as object) }).toEqual({ accessToken: 'eyJ' });
  });

  const pairPayloads: Array<[string, unknown]> = [
    ['both fields', { a: 'abcd', b: '' }],
    ['a too long', { a: 'abcde', b: 'x' }],
    ['a empty', { a: '', b: 'x' }],
    ['b missing', { a: 'ab' }],
    ['b not a string', { a: 'ab', b: false }],
    ['an extra field', { a: 'ab', b: 'x', c: 'y' }],
  ];

  it.each(pairPayloads)('answers %s to a two-field DTO exactly as the full validation does', async (_name, payload) => {
    expect(await outcome(fast, payload, PairDto)).toEqual(await outcome(full, payload, PairDto));
  });

  it('takes the fast path for the refresh DTOs, an omittable field included, but not for the RPC one with its connection', () => {
    expect(stringFieldsOf(RefreshDto)).toEqual([{ name: 'refreshToken', maxLength: 512, notEmpty: false }]);
    expect(stringFieldsOf(RestRefreshDto)).toEqual([{ name: 'refreshToken', maxLength: 512, notEmpty: false }]);
    expect(stringFieldsOf(RpcRefreshDto)).toBeUndefined();
  });

  const refreshPayloads: Array<[string, unknown]> = [
    ['a token', { refreshToken: 'opaque-token' }],
    ['a token at the length limit', { refreshToken: 'r'.repeat(512) }],
    ['a token over the length limit', { refreshToken: 'r'.repeat(513) }],
    ['no field (cookie mode)', {}],
    ['an undefined field', { refreshToken: undefined }],
    ['null', { refreshToken: null }],
    ['a number', { refreshToken: 7 }],
    ['an extra field', { refreshToken: 'opaque-token', sessionId: 'x' }],
    ['no payload', undefined],
  ];

  it.each(refreshPayloads)('answers %s to RestRefreshDto and RefreshDto exactly as the full validation does', async (_name, payload) => {
    for (const dto of [RestRefreshDto, RefreshDto]) {
      expect(await outcome(fast, payload, dto)).toEqual(await outcome(full, payload, dto));
    }
  });

  it('returns the values of custom parameter decorators as they are', async () => {
    const auth = { userId: 'u1' };
    expect(await fast.transform(auth, { type: 'custom', metatype: Object })).toBe(auth);
  });
});
