import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { ProfileDto } from './dto/profile.dto';
import { Profile } from './profile.entity';

const FIELDS = ['fullName', 'dateOfBirth', 'phone', 'address', 'nationalId'] as const;

/** The caller's own profile; encryption is the entity's business (`@EncryptedColumn`). */
@Injectable()
export class ProfileService {
  constructor(@InjectRepository(Profile) private readonly profiles: Repository<Profile>) {}

  async get(userId: string): Promise<ProfileDto> {
    return toDto(await this.profiles.findOneBy({ userId }));
  }

  async replace(userId: string, fields: ProfileDto): Promise<ProfileDto> {
    const profile = this.profiles.create({ userId, ...pick(fields) });
    return toDto(await this.profiles.save(profile));
  }

  async update(userId: string, fields: Partial<ProfileDto>): Promise<ProfileDto> {
    const current = (await this.profiles.findOneBy({ userId })) ?? this.profiles.create({ userId, ...toDto(null) });
    for (const field of FIELDS) if (fields[field] !== undefined) current[field] = fields[field] ?? null;
    return toDto(await this.profiles.save(current));
  }
}

/** An explicit allow-list: a new column on the entity never leaks by itself. */
function toDto(profile: Profile | null): ProfileDto {
  return {
    fullName: profile?.fullName ?? null,
    dateOfBirth: profile?.dateOfBirth ?? null,
    phone: profile?.phone ?? null,
    address: profile?.address ?? null,
    nationalId: profile?.nationalId ?? null,
  };
}

function pick(fields: ProfileDto): ProfileDto {
  return toDto(fields as Profile);
}
