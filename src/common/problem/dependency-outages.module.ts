import { Global, Module } from '@nestjs/common';
import { DependencyOutages } from './dependency-outages';

/** `DependencyOutages` for the problem filter and the modules that register a probe. */
@Global()
@Module({ providers: [DependencyOutages], exports: [DependencyOutages] })
export class DependencyOutagesModule {}
