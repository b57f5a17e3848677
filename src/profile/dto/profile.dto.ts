import { ApiProperty, ApiSchema, PartialType } from '@nestjs/swagger';
import {
  IsISO8601,
  IsString,
  Length,
  Matches,
  ValidateIf,
} from 'class-validator';

/** The profile as the API shows it: every field may be null (docs/http-api.md#profile). */
@ApiSchema({ name: 'Profile' })
export class ProfileDto {
  @ApiProperty({
    type: String,
    nullable: true,
    example: 'Ada Lovelace',
    maxLength: 200,
  })
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @Length(1, 200)
  fullName: string | null;

  @ApiProperty({
    type: String,
    format: 'date',
    nullable: true,
    example: '1815-12-10',
    description: 'ISO 8601 date (YYYY-MM-DD)',
  })
  @ValidateIf((_, value) => value !== null)
  @IsISO8601({ strict: true, strictSeparator: true })
  @Matches(/^\d{4}-\d{2}-\d{2}$/, {
    message: 'dateOfBirth must be a date as YYYY-MM-DD',
  })
  dateOfBirth: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: '+44 20 7946 0958',
    maxLength: 32,
  })
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @Matches(/^\+?[0-9 ()./-]{3,32}$/, {
    message: 'phone must be a phone number (digits, spaces, + ( ) . / -)',
  })
  phone: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: '12 St James’s Square, London SW1Y 4JH',
    maxLength: 500,
  })
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @Length(1, 500)
  address: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'QQ123456C',
    maxLength: 64,
  })
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @Length(1, 64)
  nationalId: string | null;
}

/** PUT replaces the whole profile: every field must be present (null to clear it). */
@ApiSchema({ name: 'ReplaceProfileRequest' })
export class ReplaceProfileDto extends ProfileDto {}

/** PATCH changes only the fields sent. */
@ApiSchema({ name: 'UpdateProfileRequest' })
export class UpdateProfileDto extends PartialType(ProfileDto, {
  skipNullProperties: false,
}) {}

/** The profile fields a registration may carry, each optional. */
@ApiSchema({ name: 'RegistrationProfile' })
export class OptionalProfileDto extends PartialType(ProfileDto) {}
