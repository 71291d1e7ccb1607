import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  to: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
  /** The links of the text part. */
  links: string[];
}

/** A real SMTP server the tests start, stop and restart on one port; it keeps what it receives. */
export class SmtpSink {
  readonly received: ReceivedMail[] = [];
  private server?: SMTPServer;
  private gate?: { opened: Promise<void>; open: () => void };
  /** Mails read while held and not yet acknowledged. */
  held = 0;
  port = 0;

  async start(port = this.port): Promise<number> {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onAuth: (_auth, _session, callback) => callback(null, { user: 'test' }),
      onData: (stream, _session, callback) => {
        simpleParser(stream).then(
          async (mail) => {
            const gate = this.gate;
            if (gate) {
              this.held += 1;
              await gate.opened;
              this.held -= 1;
            }
            const text = mail.text ?? '';
            this.received.push({
              to: Array.isArray(mail.to) ? mail.to.map((a) => a.text).join(', ') : (mail.to?.text ?? ''),
              subject: mail.subject ?? '',
              text,
              html: typeof mail.html === 'string' ? mail.html : '',
              messageId: mail.messageId ?? '',
              links: text.match(/https?:\/\/\S+/g) ?? [],
            });
            callback();
          },
          (error: Error) => callback(error),
        );
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    const address = server.server.address();
    this.port = typeof address === 'object' && address ? address.port : port;
    return this.port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * From now on each mail is read but not acknowledged until release(): the sender's delivery stays
   * in flight, and the mail counts as received only once released.
   */
  hold(): void {
    if (this.gate) return;
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    this.gate = { opened, open };
  }

  release(): void {
    this.gate?.open();
    this.gate = undefined;
  }

  /** Waits until `count` mails are being held, or fails after `ms`. */
  async waitForHeld(count = 1, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.held < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} held mails, got ${this.held}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  get url(): string {
    return `smtp://user:secret@127.0.0.1:${this.port}`;
  }

  to(address: string): ReceivedMail[] {
    return this.received.filter((m) => m.to.toLowerCase().includes(address.toLowerCase()));
  }

  /** Waits until `count` mails have reached `address` (or any address), or fails after `ms`. */
  async waitFor(count: number, address?: string, ms = 15_000): Promise<ReceivedMail[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const got = address ? this.to(address) : this.received;
      if (got.length >= count) return got;
      if (Date.now() > deadline) throw new Error(`expected ${count} mails${address ? ` to ${address}` : ''}, got ${got.length}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Waits until `count` mails with this subject have reached `address`, or fails after `ms`. */
  async waitForSubject(address: string, subject: string, count = 1, ms = 15_000): Promise<ReceivedMail[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const got = this.to(address).filter((m) => m.subject === subject);
      if (got.length >= count) return got;
      if (Date.now() > deadline) throw new Error(`expected ${count} "${subject}" mails to ${address}, got ${got.length}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

export function tokenOf(link: string): string {
  const token = new URL(link).searchParams.get('token');
  if (!token) throw new Error(`no token in ${link}`);
  return token;
}
