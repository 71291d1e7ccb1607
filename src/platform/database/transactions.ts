import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

/**
 * A transaction in progress, as Transactions.run() hands it to its work. Services only pass it on
 * to the repository methods that must take part; what is inside is the repositories' business.
 */
export type Tx = EntityManager;

/** Where services draw their transaction boundaries; an in-memory fake stands in for unit specs. */
@Injectable()
export class Transactions {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Runs the work in one transaction: committed when it resolves, rolled back when it throws. */
  run<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }
}
