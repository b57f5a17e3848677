import { MigrationInterface, QueryRunner } from "typeorm";

export class CreateUsersAndDataKeys1795773554304 implements MigrationInterface {
    name = 'CreateUsersAndDataKeys1795773554304'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "users" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "email" bytea NOT NULL, "email_index" bytea, "auth_verifier" bytea NOT NULL, "kdf_salt" bytea NOT NULL, "kdf_params" jsonb NOT NULL, "recovery_salt" bytea NOT NULL, "active_key_version" integer NOT NULL, "version" integer NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_498cf712f15452d301a943fd5c6" UNIQUE ("email_index"), CONSTRAINT "PK_a3ffb1c0c8416b9fc6f907b7433" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE TABLE "user_data_keys" ("user_id" uuid NOT NULL, "key_version" integer NOT NULL, "wrapped_by_password" bytea NOT NULL, "wrapped_by_recovery" bytea NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_c5e8d701ac44b604f3b95a03227" PRIMARY KEY ("user_id", "key_version"))`);
        await queryRunner.query(`ALTER TABLE "user_data_keys" ADD CONSTRAINT "FK_6e0ce96ebb0ee4c9397679f629d" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "user_data_keys" DROP CONSTRAINT "FK_6e0ce96ebb0ee4c9397679f629d"`);
        await queryRunner.query(`DROP TABLE "user_data_keys"`);
        await queryRunner.query(`DROP TABLE "users"`);
    }

}
