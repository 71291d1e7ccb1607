import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import type { Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';

import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';

export interface OutgoingMail {
  id: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

/**
 * Delivers one mail: over SMTP when SMTP_URL is set; otherwise as an .eml file under DATA_DIR/mail
 * with its links logged outside production, so the quick start needs no mail server.
 */
@Injectable()
export class MailTransport implements OnApplicationShutdown {
  private readonly logger = new Logger('Mail');
  private transporter?: Promise<Transporter>;
  private readonly toFiles: boolean;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.toFiles = !config.mail.smtpUrl;
  }

  /** nodemailer is loaded with the first mail: most instances send none for a long while, or never. */
  private transport(): Promise<Transporter> {
    const smtpUrl = this.config.mail.smtpUrl;
    this.transporter ??= import('nodemailer').then(({ default: nodemailer }) =>
      smtpUrl
        ? nodemailer.createTransport({
            url: smtpUrl,
            // Short of the outbox lock (2 minutes), so a slow server never leads to a second send.
            connectionTimeout: 10_000,
            greetingTimeout: 10_000,
            socketTimeout: 30_000,
          } as SMTPTransport.Options)
        : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' }),
    );
    return this.transporter;
  }

  async send(mail: OutgoingMail): Promise<void> {
    const info = (await (
      await this.transport()
    ).sendMail({
      from: this.config.mail.from,
      to: mail.to,
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
      // One id per outbox row: a receiver can tell a resend from a new mail.
      messageId: `<${mail.id}@gatehouse>`,
    })) as { message?: Buffer };
    if (this.toFiles && info.message) {
      // The files hold live links: readable by the service's user alone, as is their folder (a
      // folder made earlier, by hand or by an older version, is narrowed too).
      await mkdir(this.config.mail.outboxDir, { recursive: true, mode: 0o700 });
      await chmod(this.config.mail.outboxDir, 0o700);
      const file = join(this.config.mail.outboxDir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${mail.id}.eml`);
      await writeFile(file, info.message, { mode: 0o600 });
      // Without SMTP outside production, the links are what a developer needs to go on. They carry
      // live tokens, so they go in a field of their own (free text is scrubbed of tokens), and never
      // in production, where the file is the only copy.
      const devLinks = this.config.env === 'production' ? [] : (mail.text.match(/https?:\/\/\S+/g) ?? []);
      this.logger.log({ msg: `mail "${mail.subject}" to ${mail.to} written to ${file}`, ...(devLinks.length ? { devLinks } : {}) });
    }
  }

  async onApplicationShutdown(): Promise<void> {
    (await this.transporter?.catch(() => undefined))?.close();
  }
}
