import { createSecretKey, randomBytes } from 'node:crypto';

import { keyId, open, seal, sealedKeyId, SecretBoxError } from './secret-box';

describe('secret box', () => {
  const key = createSecretKey(randomBytes(32));
  const secret = randomBytes(20);

  it('opens what it sealed, for the same owner, and never contains the plaintext', () => {
    const sealed = seal(key, secret, 'user-1');
    expect(sealed.includes(secret)).toBe(false);
    expect(open(key, sealed, 'user-1').equals(secret)).toBe(true);
    // A fresh IV each time: the same secret never seals to the same bytes.
    expect(seal(key, secret, 'user-1').equals(sealed)).toBe(false);
  });

  it('names its version and key id up front, so a later key can be told apart', () => {
    const sealed = seal(key, secret, 'user-1');
    expect(sealed[0]).toBe(1);
    expect(sealedKeyId(sealed)).toBe(keyId(key));
    expect(keyId(key)).toMatch(/^[0-9a-f]{8}$/);
    expect(keyId(createSecretKey(randomBytes(32)))).not.toBe(keyId(key));
  });

  it('refuses another owner, another key, a flipped bit anywhere, and unknown versions', () => {
    const sealed = seal(key, secret, 'user-1');
    expect(() => open(key, sealed, 'user-2')).toThrow(SecretBoxError);
    expect(() => open(createSecretKey(randomBytes(32)), sealed, 'user-1')).toThrow(SecretBoxError);
    for (let i = 0; i < sealed.length; i++) {
      const tampered = Buffer.from(sealed);
      tampered[i] ^= 0x01;
      expect(() => open(key, tampered, 'user-1')).toThrow(SecretBoxError);
    }
    expect(() => sealedKeyId(Buffer.alloc(8))).toThrow(SecretBoxError);
  });
});
