import type { JsonWebKey } from 'node:crypto';
import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';

import { Public } from '../shared/access/decorators.js';
import { JsonWebKeySet } from './dto/jwks.response.js';
import { SigningKeysService } from './signing-keys.service.js';

@ApiTags('keys')
@Controller('.well-known')
export class JwksController {
  constructor(private readonly keys: SigningKeysService) {}

  @ApiOperation({
    summary: 'The public keys that verify access tokens (JWKS)',
    description: 'Keys are published before they sign; retired keys leave the set. Empty `keys` with HS256.',
  })
  @ApiOkResponse({ type: JsonWebKeySet })
  @Public()
  @Get('jwks.json')
  jwks(): { keys: JsonWebKey[] } {
    return this.keys.jwks();
  }
}
