import { MigrationInterface, QueryRunner } from "typeorm";

export class AddSpentRefreshTokenHashes1796453738084 implements MigrationInterface {
    name = 'AddSpentRefreshTokenHashes1796453738084'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "sessions" ADD "spent_refresh_token_hashes" bytea array NOT NULL DEFAULT '{}'`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "sessions" DROP COLUMN "spent_refresh_token_hashes"`);
    }

}
