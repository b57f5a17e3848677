import { Injectable, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DependencyOutages } from '../common/problem/dependency-outages';

/**
 * Tells `DependencyOutages` how to see the database back after an outage: `SELECT 1` through the
 * pool (a new connection once the old ones died).
 */
@Injectable()
export class DatabaseOutageProbe implements OnModuleInit {
  constructor(
    private readonly dataSource: DataSource,
    private readonly outages: DependencyOutages,
  ) {}

  onModuleInit(): void {
    this.outages.registerProbe('database', () =>
      this.dataSource.query('SELECT 1'),
    );
  }
}
