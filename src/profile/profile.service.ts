import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
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
    const profile = this.profiles.create({ userId, ...pick(fields) });
    return toProfileDto(await this.profiles.save(profile));
  }

  async update(
    userId: string,
    fields: Partial<ProfileDto>,
  ): Promise<ProfileDto> {
    const current =
      (await this.profiles.findOneBy({ userId })) ??
      this.profiles.create({ userId, ...toProfileDto(null) });
    for (const field of FIELDS)
      if (fields[field] !== undefined) current[field] = fields[field] ?? null;
    return toProfileDto(await this.profiles.save(current));
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
