import { MigrationInterface, QueryRunner } from "typeorm";

export class CreateIdempotencyRecords1796800000000 implements MigrationInterface {
    name = 'CreateIdempotencyRecords1796800000000'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "idempotency_records" ("id" bytea NOT NULL, "state" text NOT NULL, "fingerprint" bytea NOT NULL, "lease_token" bytea, "lease_expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, "mismatches" integer NOT NULL DEFAULT '0', "response_status" smallint, "response_envelope" bytea, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_9ae4e93699362b0d4e3da3dd1c2" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "idx_idempotency_records_expires_at" ON "idempotency_records" ("expires_at") `);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`DROP INDEX "public"."idx_idempotency_records_expires_at"`);
        await queryRunner.query(`DROP TABLE "idempotency_records"`);
    }

}
