import { ApiProperty, ApiSchema } from '@nestjs/swagger';

@ApiSchema({ name: 'JsonWebKeySet' })
export class JsonWebKeySet {
  @ApiProperty({
    type: 'array',
    items: { type: 'object', additionalProperties: true },
    description: 'Public keys (kty, kid, alg, use and the key parameters); empty with HS256.',
    example: [{ kty: 'EC', crv: 'P-256', x: '…', y: '…', kid: '…', alg: 'ES256', use: 'sig' }],
  })
  keys: object[];
}
