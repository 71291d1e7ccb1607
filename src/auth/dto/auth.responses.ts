import { ApiProperty, ApiSchema } from '@nestjs/swagger';

import type { AuthContext } from '../../shared/access/auth-context.js';
import { UserResponse } from '../../users/dto/user.response.js';
import type { LoginResult, MfaRequired, SecondFactorMethod } from '../login.service.js';

// Response shapes for the OpenAPI document; the handlers return plain objects of these shapes.

@ApiSchema({ name: 'TokenPair' })
export class TokenPair {
  @ApiProperty({ description: 'A JWT (header typ at+jwt, kid); send as `Authorization: Bearer <accessToken>`.' })
  accessToken: string;

  @ApiProperty({ description: 'Opaque; works once: every refresh returns a new one.' })
  refreshToken: string;

  @ApiProperty({ enum: ['Bearer'] })
  tokenType: 'Bearer';

  @ApiProperty({ format: 'date-time' })
  accessTokenExpiresAt: string;

  @ApiProperty({ format: 'date-time', description: 'The absolute end of the session.' })
  refreshTokenExpiresAt: string;
}

@ApiSchema({ name: 'LoginResult' })
export class LoginResultResponse implements LoginResult {
  @ApiProperty({ format: 'uuid' })
  sessionId: string;

  @ApiProperty({ type: TokenPair })
  tokens: TokenPair;

  @ApiProperty({ type: UserResponse })
  user: UserResponse;
}

@ApiSchema({
  name: 'MfaRequired',
  description: 'The first factor was right and the user has a second factor: complete the sign-in with POST /auth/mfa/verify.',
})
export class MfaRequiredResponse implements MfaRequired {
  @ApiProperty({ enum: [true] })
  mfaRequired: true;

  @ApiProperty({ description: 'Single use; lives `expiresIn` seconds and dies after 5 wrong codes. Opaque: never parse it.' })
  mfaToken: string;

  @ApiProperty({ enum: ['totp', 'recovery_code'], isArray: true, description: 'The second factors the user can complete with.' })
  methods: SecondFactorMethod[];

  @ApiProperty({ example: 300 })
  expiresIn: number;
}

@ApiSchema({ name: 'CookieTokenPair', description: 'In cookie mode the refresh token travels only in the gh_refresh cookie.' })
export class CookieTokenPair {
  @ApiProperty({ description: 'A JWT; also set as the HttpOnly gh_access cookie.' })
  accessToken: string;

  @ApiProperty({ enum: ['Bearer'] })
  tokenType: 'Bearer';

  @ApiProperty({ format: 'date-time' })
  accessTokenExpiresAt: string;

  @ApiProperty({ format: 'date-time' })
  refreshTokenExpiresAt: string;
}

@ApiSchema({ name: 'CookieLoginResult', description: 'LoginResult in cookie mode (AUTH_COOKIES on): tokens also set as cookies.' })
export class CookieLoginResult {
  @ApiProperty({ format: 'uuid' })
  sessionId: string;

  @ApiProperty({ type: CookieTokenPair })
  tokens: CookieTokenPair;

  @ApiProperty({ type: UserResponse })
  user: UserResponse;

  @ApiProperty({ description: 'The gh_csrf cookie value: send it as X-CSRF-Token on cookie-authenticated writes.' })
  csrfToken: string;
}

@ApiSchema({ name: 'VerificationSent' })
export class VerificationSent {
  @ApiProperty({ enum: ['verification_sent'] })
  status: 'verification_sent';
}

@ApiSchema({
  name: 'VerifiedAccessToken',
  description: 'The reply of auth.verify: who the token speaks for, checked against the live session.',
})
export class VerifiedAccessToken implements Omit<AuthContext, 'impersonatorId'> {
  @ApiProperty({ format: 'uuid' })
  userId: string;

  @ApiProperty({ format: 'uuid' })
  sessionId: string;

  @ApiProperty({ type: [String], description: "Current roles (not the token's)." })
  roles: string[];

  @ApiProperty()
  isImpersonated: boolean;

  @ApiProperty({ type: 'object', additionalProperties: true, description: 'The verified claims of the token.' })
  claims: Record<string, unknown>;

  @ApiProperty({ type: UserResponse })
  user: UserResponse;
}

@ApiSchema({ name: 'Accepted' })
export class AcceptedReply {
  @ApiProperty({ enum: [true] })
  accepted: true;
}

@ApiSchema({ name: 'PasswordReset' })
export class ResetReply {
  @ApiProperty({ enum: [true] })
  reset: true;
}

@ApiSchema({ name: 'PasswordChanged' })
export class ChangedReply {
  @ApiProperty({ enum: [true] })
  changed: true;
}
