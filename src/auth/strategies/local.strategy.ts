import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { Strategy } from 'passport-local';

import { connectionOf } from '../../platform/http/http-connection.js';
import { CredentialsService, type VerifiedUser } from '../credentials.service.js';
import type { LoginDto } from '../dto/auth.dto.js';

/**
 * Password login. The body reaching passport is the validated LoginDto (see LoginGuard), whose
 * `identifier` is the email or, failing that, the username.
 */
@Injectable()
export class LocalStrategy extends PassportStrategy(Strategy, 'local') {
  constructor(private readonly credentials: CredentialsService) {
    super({ usernameField: 'identifier', passwordField: 'password', passReqToCallback: true });
  }

  validate(request: FastifyRequest & { body: LoginDto }): Promise<VerifiedUser> {
    const { email, username, password } = request.body;
    return this.credentials.verify({ email, username, password }, connectionOf(request));
  }
}
