import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The three tables: accounts, their wrapped data keys, and notes (whose encrypted columns are bytea). */
export class CreateUsersAndNotes1796500000000 implements MigrationInterface {
  name = 'CreateUsersAndNotes1796500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE users (
        id uuid PRIMARY KEY,
        username text NOT NULL UNIQUE,
        auth_verifier bytea NOT NULL,
        kdf_salt bytea NOT NULL,
        kdf_params jsonb NOT NULL,
        recovery_salt bytea NOT NULL,
        active_key_version int NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`
      CREATE TABLE user_data_keys (
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        key_version int NOT NULL,
        wrapped_by_password bytea NOT NULL,
        wrapped_by_recovery bytea NOT NULL,
        PRIMARY KEY (user_id, key_version)
      )`);
    await queryRunner.query(`
      CREATE TABLE notes (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        title bytea NOT NULL,
        body bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(
      `CREATE INDEX notes_owner_created ON notes (owner_id, created_at)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE notes`);
    await queryRunner.query(`DROP TABLE user_data_keys`);
    await queryRunner.query(`DROP TABLE users`);
  }
}
