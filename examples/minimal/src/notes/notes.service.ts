import { Injectable, NotFoundException } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Note } from './note.entity';

export interface NoteView {
  id: string;
  title: string;
  body: string;
  createdAt: Date;
}

const view = ({ id, title, body, createdAt }: Note): NoteView => ({
  id,
  title,
  body,
  createdAt,
});

/**
 * The current user's notes. Encrypted columns need the request's keyring (attached by
 * `SessionGuard`) and writes inside a transaction (the key-version write guard checks, before
 * COMMIT, that the key they were sealed under still exists).
 */
@Injectable()
export class NotesService {
  constructor(private readonly dataSource: DataSource) {}

  async create(
    ownerId: string,
    title: string,
    body: string,
  ): Promise<NoteView> {
    const note = await this.dataSource.transaction((manager) =>
      manager.save(
        manager.create(Note, { owner: { id: ownerId }, title, body }),
      ),
    );
    return view(note);
  }

  /** Newest last; sorted by a plaintext column, since the database cannot order ciphertexts. */
  async list(ownerId: string): Promise<NoteView[]> {
    const notes = await this.dataSource.getRepository(Note).find({
      where: { owner: { id: ownerId } },
      order: { createdAt: 'ASC' },
    });
    return notes.map(view);
  }

  /** @throws NotFoundException for another user's note as for a missing one. */
  async get(ownerId: string, id: string): Promise<NoteView> {
    const note = await this.dataSource
      .getRepository(Note)
      .findOneBy({ id, owner: { id: ownerId } });
    if (!note) throw new NotFoundException('no such note');
    return view(note);
  }
}
