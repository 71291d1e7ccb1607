import 'reflect-metadata';

import { MaxLength } from 'class-validator';

import { AppError } from '../errors/app-error';
import { NORMALIZE_MAX_LENGTH, NormalizeString } from './dto-helpers';
import { normalizeEmail } from './normalize';
import { createValidationPipe } from './validation';

const seen: string[] = [];
const recordingNormalizeEmail = (value: string): string => {
  seen.push(value);
  return normalizeEmail(value);
};

class EmailBody {
  @NormalizeString(recordingNormalizeEmail)
  @MaxLength(254)
  email: string;
}

async function validate(email: unknown): Promise<EmailBody | AppError> {
  try {
    return (await createValidationPipe().transform({ email }, { type: 'body', metatype: EmailBody })) as EmailBody;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
}

describe('NormalizeString', () => {
  beforeEach(() => (seen.length = 0));

  it('normalises a value up to the cap', async () => {
    // Fullwidth letters fold to ASCII under NFKC.
    expect(await validate('ＡＬＩＣＥ@example.com')).toEqual({ email: 'alice@example.com' });
    expect(seen).toHaveLength(1);
  });

  it('leaves a longer value as it is, for the length check to refuse with the usual message', async () => {
    // U+FDFA is one unit that NFKC expands to 18: normalising a body-sized string of it is what the cap avoids.
    const refused = await validate('\uFDFA'.repeat(NORMALIZE_MAX_LENGTH + 1));
    expect(seen).toEqual([]);
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).toBody()).toMatchObject({
      statusCode: 400,
      code: 'VALIDATION_FAILED',
      errors: [{ field: 'email', messages: ['email must be shorter than or equal to 254 characters'] }],
    });
  });

  it('refuses, above the cap, only what NFKC could never bring within 254 characters', () => {
    // A composition joins at most 4 code units into one (U+1FA2 from ω and three marks).
    expect('\u03C9\u0313\u0300\u0345'.normalize('NFKC')).toBe('\u1FA2');
    expect(NORMALIZE_MAX_LENGTH).toBeGreaterThanOrEqual(4 * 254);
  });
});
