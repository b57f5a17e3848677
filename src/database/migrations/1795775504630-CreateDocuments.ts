import { MigrationInterface, QueryRunner } from "typeorm";

export class CreateDocuments1795775504630 implements MigrationInterface {
    name = 'CreateDocuments1795775504630'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "documents" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "owner_id" uuid NOT NULL, "kind" character varying(32) NOT NULL, "filename" bytea NOT NULL, "size_bytes" bigint NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "expires_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, CONSTRAINT "PK_ac51aa5181ee2036f5ca482857c" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "idx_documents_expires" ON "documents"  ("expires_at") `);
        await queryRunner.query(`CREATE INDEX "idx_documents_owner_created" ON "documents"  ("owner_id", "created_at") `);
        await queryRunner.query(`ALTER TABLE "documents" ADD CONSTRAINT "FK_888a4852e27627d1ebd8a094e98" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "documents" DROP CONSTRAINT "FK_888a4852e27627d1ebd8a094e98"`);
        await queryRunner.query(`DROP INDEX "public"."idx_documents_owner_created"`);
        await queryRunner.query(`DROP INDEX "public"."idx_documents_expires"`);
        await queryRunner.query(`DROP TABLE "documents"`);
    }

}
