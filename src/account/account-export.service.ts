import { Injectable } from '@nestjs/common';

import { DomainEvents } from '../events/domain-events.service.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import { unauthorized } from '../shared/errors/app-error.js';
import { PublicUser, toPublicUser } from '../users/user.mapper.js';
import { UsersService } from '../users/users.service.js';
import { AccountDataRepository, ExportedAuditEntry, ExportedSession, SecondFactorStatus } from './account-data.repository.js';

/** The most audit entries an export carries (newest first). */
const AUDIT_LIMIT = 10_000;

export interface AccountExport {
  generatedAt: string;
  user: PublicUser;
  sessions: ExportedSession[];
  auditLog: ExportedAuditEntry[];
  secondFactors: SecondFactorStatus;
}

/** The caller's data as JSON (GDPR art. 20). Built from explicit column lists: no hash, token or secret is ever selected. */
@Injectable()
export class AccountExportService {
  constructor(
    private readonly users: UsersService,
    private readonly data: AccountDataRepository,
    private readonly events: DomainEvents,
  ) {}

  async export(auth: AuthContext): Promise<AccountExport> {
    const user = await this.users.findById(auth.userId);
    if (!user) throw unauthorized('session is no longer valid');
    const [sessions, auditLog, secondFactors] = await Promise.all([
      this.data.sessionsOf(user.id),
      this.data.auditOf(user.id, AUDIT_LIMIT),
      this.data.secondFactorsOf(user.id),
    ]);
    this.events.publish('user.data_exported', { userId: user.id, sessionId: auth.sessionId });
    return { generatedAt: new Date().toISOString(), user: toPublicUser(user), sessions, auditLog, secondFactors };
  }
}
