import { Controller, Get } from '@nestjs/common';
import type { JsonWebKey } from 'node:crypto';
import { Public } from './decorators.js';
import { SigningKeysService } from './signing-keys.service.js';

@Controller('.well-known')
export class JwksController {
  constructor(private readonly keys: SigningKeysService) {}

  @Public()
  @Get('jwks.json')
  jwks(): { keys: JsonWebKey[] } {
    return this.keys.jwks();
  }
}
