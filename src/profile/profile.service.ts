import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { PG_UNIQUE_VIOLATION } from '../database/plain-sql';
import { ProfileDto } from './dto/profile.dto';
import { Profile } from './profile.entity';

const FIELDS = [
  'fullName',
  'dateOfBirth',
  'phone',
  'address',
  'nationalId',
] as const;

/** The caller's own profile; encryption is the entity's business (`@EncryptedColumn`). */
@Injectable()
export class ProfileService {
  constructor(
    @InjectRepository(Profile) private readonly profiles: Repository<Profile>,
  ) {}

  async get(userId: string): Promise<ProfileDto> {
    return toProfileDto(await this.profiles.findOneBy({ userId }));
  }

  async replace(userId: string, fields: ProfileDto): Promise<ProfileDto> {
    return this.saveRetryingFirstInsert(async () =>
      this.profiles.save(this.profiles.create({ userId, ...pick(fields) })),
    );
  }

  async update(
    userId: string,
    fields: Partial<ProfileDto>,
  ): Promise<ProfileDto> {
    return this.saveRetryingFirstInsert(async () => {
      const current =
        (await this.profiles.findOneBy({ userId })) ??
        this.profiles.create({ userId, ...toProfileDto(null) });
      for (const field of FIELDS)
        if (fields[field] !== undefined) current[field] = fields[field] ?? null;
      return this.profiles.save(current);
    });
  }

  /**
   * A user without a profile row yet: two writes at once both find none and both INSERT, and the
   * second fails on the primary key (23505), which was a 500. It is run once more, when it finds
   * the row the first one made and updates it (the later write wins, as for any two writes).
   */
  private async saveRetryingFirstInsert(
    write: () => Promise<Profile>,
  ): Promise<ProfileDto> {
    try {
      return toProfileDto(await write());
    } catch (error) {
      if ((error as { code?: unknown }).code !== PG_UNIQUE_VIOLATION)
        throw error;
      return toProfileDto(await write());
    }
  }
}

/** An explicit allow-list: a new column on the entity never leaks by itself. */
export function toProfileDto(
  profile: Pick<Profile, (typeof FIELDS)[number]> | null,
): ProfileDto {
  return {
    fullName: profile?.fullName ?? null,
    dateOfBirth: profile?.dateOfBirth ?? null,
    phone: profile?.phone ?? null,
    address: profile?.address ?? null,
    nationalId: profile?.nationalId ?? null,
  };
}

function pick(fields: ProfileDto): ProfileDto {
  return toProfileDto(fields);
}
