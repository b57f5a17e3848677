import { MigrationInterface, QueryRunner } from "typeorm";

export class CreateKeyRotations1795782001272 implements MigrationInterface {
    name = 'CreateKeyRotations1795782001272'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "key_rotations" ("user_id" uuid NOT NULL, "from_version" integer NOT NULL, "to_version" integer NOT NULL, "started_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "rows_reencrypted" bigint NOT NULL DEFAULT '0', "values_reencrypted" bigint NOT NULL DEFAULT '0', "files_reencrypted" integer NOT NULL DEFAULT '0', CONSTRAINT "PK_679041592eadcd19d3b2a0f93a1" PRIMARY KEY ("user_id"))`);
        await queryRunner.query(`ALTER TABLE "key_rotations" ADD CONSTRAINT "FK_679041592eadcd19d3b2a0f93a1" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "key_rotations" DROP CONSTRAINT "FK_679041592eadcd19d3b2a0f93a1"`);
        await queryRunner.query(`DROP TABLE "key_rotations"`);
    }

}
