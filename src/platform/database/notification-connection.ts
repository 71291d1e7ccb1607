import { Client } from 'pg';

export interface NotificationConnectionOptions {
  url: string;
  channel: string;
  /** Shown in pg_stat_activity. */
  applicationName: string;
  onNotification(payload: string | undefined): void;
  /** The connection failed or ended, possibly before open() settled; it is of no further use. */
  onLost(): void;
}

/**
 * A dedicated PostgreSQL connection that LISTENs on one channel: LISTEN belongs to a session, so a
 * pooled connection cannot hold it. The meaning of the payloads, and when to reconnect, are the
 * caller's.
 */
export class NotificationConnection {
  private readonly client: Client;

  constructor(private readonly options: NotificationConnectionOptions) {
    this.client = new Client({
      connectionString: options.url,
      connectionTimeoutMillis: 3000,
      keepAlive: true,
      application_name: options.applicationName,
    });
    this.client.on('notification', (message) => options.onNotification(message.payload));
    this.client.on('error', () => options.onLost());
    this.client.on('end', () => options.onLost());
  }

  /** Connects and starts listening; rejects when either fails. */
  async open(): Promise<void> {
    await this.client.connect();
    await this.client.query(`LISTEN ${this.options.channel}`);
  }

  /** Sends a notification on the channel through this connection (a listener can ping itself). */
  async notify(payload: string): Promise<void> {
    await this.client.query(`SELECT pg_notify($1, $2)`, [this.options.channel, payload]);
  }

  close(): Promise<void> {
    return this.client.end().catch(() => undefined);
  }
}
