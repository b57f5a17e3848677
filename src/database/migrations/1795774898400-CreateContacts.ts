import { MigrationInterface, QueryRunner } from "typeorm";

export class CreateContacts1795774898400 implements MigrationInterface {
    name = 'CreateContacts1795774898400'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "contacts" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "owner_id" uuid NOT NULL, "full_name" bytea NOT NULL, "email" bytea, "email_index" bytea, "phone" bytea, "phone_index" bytea, "address" bytea, "notes" bytea, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_b99cd40cfd66a99f1571f4f72e6" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "idx_contacts_owner_phone" ON "contacts"  ("owner_id", "phone_index") `);
        await queryRunner.query(`CREATE INDEX "idx_contacts_owner_email" ON "contacts"  ("owner_id", "email_index") `);
        await queryRunner.query(`CREATE INDEX "idx_contacts_owner_page" ON "contacts"  ("owner_id", "created_at", "id") `);
        await queryRunner.query(`ALTER TABLE "contacts" ADD CONSTRAINT "FK_ac270d32a01ee22d2e98a8f8532" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "contacts" DROP CONSTRAINT "FK_ac270d32a01ee22d2e98a8f8532"`);
        await queryRunner.query(`DROP INDEX "public"."idx_contacts_owner_page"`);
        await queryRunner.query(`DROP INDEX "public"."idx_contacts_owner_email"`);
        await queryRunner.query(`DROP INDEX "public"."idx_contacts_owner_phone"`);
        await queryRunner.query(`DROP TABLE "contacts"`);
    }

}
