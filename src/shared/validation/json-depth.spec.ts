import { AppError } from '../errors/app-error';
import { assertJsonDepth, MAX_JSON_DEPTH, tooDeepField } from './json-depth';

/** `levels` objects nested in one another, built without recursion. */
function nested(levels: number, leaf: unknown = 1): unknown {
  let value = leaf;
  for (let i = 0; i < levels; i += 1) value = { a: value };
  return value;
}

describe('tooDeepField', () => {
  it('lets 32 levels through and names the top-level field of the 33rd', () => {
    expect(tooDeepField(nested(MAX_JSON_DEPTH))).toBeUndefined();
    expect(tooDeepField({ ok: 1, deep: nested(MAX_JSON_DEPTH - 1) })).toBeUndefined();
    expect(tooDeepField({ ok: 1, deep: nested(MAX_JSON_DEPTH) })).toBe('deep');
    expect(tooDeepField([[1], nested(MAX_JSON_DEPTH)])).toBe('1');
  });

  it('counts arrays as levels', () => {
    let value: unknown = 1;
    for (let i = 0; i < MAX_JSON_DEPTH + 1; i += 1) value = [value];
    expect(tooDeepField(value)).toBe('0');
  });

  it('walks a million levels without recursion', () => {
    expect(tooDeepField({ x: nested(1_000_000) })).toBe('x');
  });

  it('leaves primitives, and objects JSON does not make, alone', () => {
    expect(tooDeepField('text')).toBeUndefined();
    expect(tooDeepField(null)).toBeUndefined();
    class Holder {
      inner = nested(100);
    }
    expect(tooDeepField({ holder: new Holder(), buffer: Buffer.from('x') })).toBeUndefined();
  });
});

describe('assertJsonDepth', () => {
  it('raises VALIDATION_FAILED naming the field', () => {
    let error: unknown;
    try {
      assertJsonDepth({ refreshToken: nested(5000) });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).toBody()).toEqual({
      statusCode: 400,
      code: 'VALIDATION_FAILED',
      message: 'JSON nested deeper than 32 levels',
      errors: [{ field: 'refreshToken', messages: ['refreshToken is nested deeper than 32 levels'] }],
    });
  });
});
