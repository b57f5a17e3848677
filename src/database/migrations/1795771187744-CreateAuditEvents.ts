import { MigrationInterface, QueryRunner } from "typeorm";

export class CreateAuditEvents1795771187744 implements MigrationInterface {
    name = 'CreateAuditEvents1795771187744'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "audit_events" ("id" BIGSERIAL NOT NULL, "occurred_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "event" character varying(64) NOT NULL, "outcome" character varying(16) NOT NULL, "user_id" uuid, "client_address" inet, "request_id" character varying(128), CONSTRAINT "PK_910f64d901a5c3e9878f0d4a407" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "idx_audit_events_user_time" ON "audit_events"  ("user_id", "occurred_at") `);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`DROP INDEX "public"."idx_audit_events_user_time"`);
        await queryRunner.query(`DROP TABLE "audit_events"`);
    }

}
