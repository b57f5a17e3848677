import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Access keys (docs/access-keys.md) and their data key wraps (docs/crypto.md#access-keys): a wrap
 * goes with its key and with its data key version (both foreign keys cascade).
 */
export class CreateAccessKeys1796510216834 implements MigrationInterface {
    name = 'CreateAccessKeys1796510216834'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "access_keys" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "user_id" uuid NOT NULL, "name" character varying(100) NOT NULL, "scopes" text array NOT NULL, "allowed_addresses" text array, "lookup_hash" bytea NOT NULL, "sealed_public_key" bytea NOT NULL, "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "last_used_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_acdb83140f2654f870d92236303" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE UNIQUE INDEX "idx_access_keys_lookup_hash" ON "access_keys"  ("lookup_hash") `);
        await queryRunner.query(`CREATE INDEX "idx_access_keys_expires_at" ON "access_keys"  ("expires_at") `);
        await queryRunner.query(`CREATE INDEX "idx_access_keys_user_created" ON "access_keys"  ("user_id", "created_at", "id") `);
        await queryRunner.query(`CREATE TABLE "access_key_data_keys" ("access_key_id" uuid NOT NULL, "key_version" integer NOT NULL, "user_id" uuid NOT NULL, "sealed_data_key" bytea NOT NULL, CONSTRAINT "PK_070acf17b49b67448fc6d69f617" PRIMARY KEY ("access_key_id", "key_version"))`);
        await queryRunner.query(`CREATE INDEX "idx_access_key_data_keys_user_version" ON "access_key_data_keys"  ("user_id", "key_version") `);
        await queryRunner.query(`ALTER TABLE "access_keys" ADD CONSTRAINT "FK_9ad6c236dae9cfdaf7dd086ff5d" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "access_key_data_keys" ADD CONSTRAINT "FK_2729fc3a0e2a47bc9049195cde3" FOREIGN KEY ("access_key_id") REFERENCES "access_keys"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "access_key_data_keys" ADD CONSTRAINT "FK_cf1103fe44e915dc3a9d271ed2f" FOREIGN KEY ("user_id", "key_version") REFERENCES "user_data_keys"("user_id","key_version") ON DELETE CASCADE ON UPDATE NO ACTION`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "access_key_data_keys" DROP CONSTRAINT "FK_cf1103fe44e915dc3a9d271ed2f"`);
        await queryRunner.query(`ALTER TABLE "access_key_data_keys" DROP CONSTRAINT "FK_2729fc3a0e2a47bc9049195cde3"`);
        await queryRunner.query(`ALTER TABLE "access_keys" DROP CONSTRAINT "FK_9ad6c236dae9cfdaf7dd086ff5d"`);
        await queryRunner.query(`DROP INDEX "public"."idx_access_key_data_keys_user_version"`);
        await queryRunner.query(`DROP TABLE "access_key_data_keys"`);
        await queryRunner.query(`DROP INDEX "public"."idx_access_keys_user_created"`);
        await queryRunner.query(`DROP INDEX "public"."idx_access_keys_expires_at"`);
        await queryRunner.query(`DROP INDEX "public"."idx_access_keys_lookup_hash"`);
        await queryRunner.query(`DROP TABLE "access_keys"`);
    }

}
