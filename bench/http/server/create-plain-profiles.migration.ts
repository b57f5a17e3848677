import { MigrationInterface, QueryRunner } from 'typeorm';

/** BENCH ONLY: the twin's table, shaped like `profiles` with `text` instead of `bytea`. */
export class CreateBenchPlainProfiles1899999999999 implements MigrationInterface {
  name = 'CreateBenchPlainProfiles1899999999999';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "bench_plain_profiles" ("user_id" uuid NOT NULL, "full_name" text, "date_of_birth" text, "phone" text, ` +
        `"address" text, "national_id" text, "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), ` +
        `CONSTRAINT "PK_bench_plain_profiles" PRIMARY KEY ("user_id"), ` +
        `CONSTRAINT "FK_bench_plain_profiles_user" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "bench_plain_profiles"`);
  }
}
