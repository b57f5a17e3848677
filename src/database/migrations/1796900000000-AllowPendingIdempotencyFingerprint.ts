import { MigrationInterface, QueryRunner } from "typeorm";

/** A register's or login's record is claimed before its fingerprint key exists (argon2id). */
export class AllowPendingIdempotencyFingerprint1796900000000 implements MigrationInterface {
    name = 'AllowPendingIdempotencyFingerprint1796900000000'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "idempotency_records" ALTER COLUMN "fingerprint" DROP NOT NULL`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`DELETE FROM "idempotency_records" WHERE "fingerprint" IS NULL`);
        await queryRunner.query(`ALTER TABLE "idempotency_records" ALTER COLUMN "fingerprint" SET NOT NULL`);
    }

}
