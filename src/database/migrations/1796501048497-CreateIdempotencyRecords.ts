import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Idempotency-Key records (docs/http-api.md#idempotency). `fingerprint` may be null: a register's
 * or login's record is claimed before its fingerprint key exists (it comes from the argon2id run).
 */
export class CreateIdempotencyRecords1796501048497 implements MigrationInterface {
    name = 'CreateIdempotencyRecords1796501048497'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "idempotency_records" ("id" bytea NOT NULL, "state" text NOT NULL, "fingerprint" bytea, "lease_token" bytea, "lease_expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, "mismatches" integer NOT NULL DEFAULT '0', "response_status" smallint, "response_envelope" bytea, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_9ae4e93699362b0d4e3da3dd1c2" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "idx_idempotency_records_expires_at" ON "idempotency_records" ("expires_at") `);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`DROP INDEX "public"."idx_idempotency_records_expires_at"`);
        await queryRunner.query(`DROP TABLE "idempotency_records"`);
    }

}
