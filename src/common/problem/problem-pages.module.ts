import { Module } from '@nestjs/common';
import { ProblemPagesController } from './problem-pages.controller';

/** `GET /problems/:type`: what each problem `type` URI names (docs/http-api.md#errors). */
@Module({ controllers: [ProblemPagesController] })
export class ProblemPagesModule {}
