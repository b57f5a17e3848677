import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsEmail, IsNotEmpty, IsObject, IsOptional, IsString, Length, MaxLength, ValidateNested } from 'class-validator';
import { normalizeEmail } from '../../crypto/blind-index';
import { OptionalProfileDto } from '../../profile/dto/profile.dto';
import { IsAcceptablePassword, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../password-policy';

const EMAIL_EXAMPLE = 'ada@example.org';
const PASSWORD_EXAMPLE = 'correct horse battery staple';

/** Emails are trimmed and lower-cased before validation and storage (SPEC §5). */
const NormalizedEmail = () =>
  Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? normalizeEmail(value) : value));

export class RegisterDto {
  @ApiProperty({ example: EMAIL_EXAMPLE, maxLength: 254 })
  @NormalizedEmail()
  @IsEmail()
  @MaxLength(254)
  email: string;

  @ApiProperty({ example: PASSWORD_EXAMPLE, minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH })
  @IsAcceptablePassword()
  password: string;

  @ApiPropertyOptional({ type: OptionalProfileDto })
  @IsOptional()
  // Without it an array passes: @ValidateNested validates each element and the profile is lost.
  @IsObject()
  @ValidateNested()
  @Type(() => OptionalProfileDto)
  profile?: OptionalProfileDto;
}

export class LoginDto {
  @ApiProperty({ example: EMAIL_EXAMPLE })
  @NormalizedEmail()
  @IsEmail()
  @MaxLength(254)
  email: string;

  /** Only the length is checked here: a login must not reveal the password policy's verdict. */
  @ApiProperty({ example: PASSWORD_EXAMPLE })
  @IsString()
  @Length(1, PASSWORD_MAX_LENGTH)
  password: string;
}

export class RefreshDto {
  @ApiProperty({ description: 'The refresh token from login or the previous refresh' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(512)
  refreshToken: string;
}

export class ChangePasswordDto {
  @ApiProperty({ example: PASSWORD_EXAMPLE })
  @IsString()
  @Length(1, PASSWORD_MAX_LENGTH)
  currentPassword: string;

  @ApiProperty({ example: 'a new and longer passphrase', minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH })
  @IsAcceptablePassword()
  newPassword: string;
}

export class RecoverDto {
  @ApiProperty({ example: EMAIL_EXAMPLE })
  @NormalizedEmail()
  @IsEmail()
  @MaxLength(254)
  email: string;

  @ApiProperty({ example: '7K3M-Q9TW-1ABC-DEFG-HJKM-NPQR-STVW', description: 'The recovery code shown at registration' })
  @IsString()
  @Length(20, 64)
  recoveryCode: string;

  @ApiProperty({ example: 'a new and longer passphrase', minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH })
  @IsAcceptablePassword()
  newPassword: string;
}

export class PasswordConfirmationDto {
  @ApiProperty({ example: PASSWORD_EXAMPLE })
  @IsString()
  @Length(1, PASSWORD_MAX_LENGTH)
  password: string;
}

export class RegisteredDto {
  @ApiProperty({ format: 'uuid' })
  userId: string;

  @ApiProperty({ example: EMAIL_EXAMPLE })
  email: string;

  @ApiProperty({ example: '7K3M-Q9TW-1ABC-DEFG-HJKM-NPQR-STVW', description: 'Shown once: the only way back in without the password' })
  recoveryCode: string;
}

export class TokenPairDto {
  @ApiProperty({ description: 'Short-lived JWT for the Authorization: Bearer header' })
  accessToken: string;

  @ApiProperty({ description: 'Opaque; single use: each refresh returns a new one' })
  refreshToken: string;

  @ApiProperty({ example: 'Bearer', enum: ['Bearer'] })
  tokenType: 'Bearer';

  @ApiProperty({ example: 600, description: 'Access token lifetime in seconds' })
  expiresIn: number;
}

export class RecoveryCodeDto {
  @ApiProperty({ example: '7K3M-Q9TW-1ABC-DEFG-HJKM-NPQR-STVW', description: 'The new recovery code; the old one no longer works' })
  recoveryCode: string;
}

export class SessionDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty()
  createdAt: Date;

  @ApiProperty()
  lastUsedAt: Date;

  @ApiProperty()
  expiresAt: Date;

  @ApiProperty({ description: 'True for the session making this request' })
  current: boolean;
}
