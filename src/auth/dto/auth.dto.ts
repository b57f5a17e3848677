import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Length,
  MaxLength,
  ValidateNested,
} from 'class-validator';
import { IsNormalizedEmail } from '../../common/http/is-normalized-email';
import { EMAIL_MAX_LENGTH } from '../../crypto/email-address';
import { OptionalProfileDto } from '../../profile/dto/profile.dto';
import {
  IsAcceptablePassword,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
} from '../password-policy';

const EMAIL_EXAMPLE = 'ada@example.org';
const PASSWORD_EXAMPLE = 'correct horse battery staple';
/** Shapes only (not real tokens): what Swagger UI shows as example values. */
const ACCESS_TOKEN_EXAMPLE =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiIwYjhlNWMxZS0zZjJhLTRlOWMtOWQ1Mi0xYzdhNmE4ZTRmMTAiLCJpYXQiOjE3OTU3NzAwMDAsImV4cCI6MTc5NTc3MDYwMH0.wkApia9FBvOaS4N-SMwjfi6wWEApupgeGp4nHweRZ5U';
const REFRESH_TOKEN_EXAMPLE =
  'Aa1Jj8wM2Dp1fQEQ7voP5u1gLqC6X7WHYGTYRseEOl3lrj8nhoSNdevEQrY5QMYXyGb8Z3GKCb9jDxkB71bEumo';
const USER_ID_EXAMPLE = '0b8e5c1e-3f2a-4e9c-9d52-1c7a6a8e4f10';

/** What every response carrying a new recovery code says about it (register, recover, rotate). */
export const RECOVERY_CODE_ONCE =
  'Shown only once: store it now (a password manager, or printed and kept safe). It is the only way back into your data if the password is lost; the server cannot show it again or reset it.';

@ApiSchema({ name: 'RegisterRequest' })
export class RegisterDto {
  @ApiProperty({
    format: 'email',
    example: EMAIL_EXAMPLE,
    maxLength: EMAIL_MAX_LENGTH,
  })
  @IsNormalizedEmail()
  email: string;

  @ApiProperty({
    example: PASSWORD_EXAMPLE,
    minLength: PASSWORD_MIN_LENGTH,
    maxLength: PASSWORD_MAX_LENGTH,
  })
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

@ApiSchema({ name: 'LoginRequest' })
export class LoginDto {
  @ApiProperty({
    format: 'email',
    example: EMAIL_EXAMPLE,
    maxLength: EMAIL_MAX_LENGTH,
  })
  @IsNormalizedEmail()
  email: string;

  /** Only the length is checked here: a login must not reveal the password policy's verdict. */
  @ApiProperty({ example: PASSWORD_EXAMPLE })
  @IsString()
  @Length(1, PASSWORD_MAX_LENGTH)
  password: string;
}

@ApiSchema({ name: 'RefreshRequest' })
export class RefreshDto {
  @ApiProperty({
    description: 'The refresh token from login or the previous refresh',
    example: REFRESH_TOKEN_EXAMPLE,
  })
  @IsString()
  @IsNotEmpty()
  @MaxLength(512)
  refreshToken: string;
}

@ApiSchema({ name: 'ChangePasswordRequest' })
export class ChangePasswordDto {
  @ApiProperty({ example: PASSWORD_EXAMPLE })
  @IsString()
  @Length(1, PASSWORD_MAX_LENGTH)
  currentPassword: string;

  @ApiProperty({
    example: 'a new and longer passphrase',
    minLength: PASSWORD_MIN_LENGTH,
    maxLength: PASSWORD_MAX_LENGTH,
  })
  @IsAcceptablePassword()
  newPassword: string;
}

@ApiSchema({ name: 'RecoverRequest' })
export class RecoverDto {
  @ApiProperty({
    format: 'email',
    example: EMAIL_EXAMPLE,
    maxLength: EMAIL_MAX_LENGTH,
  })
  @IsNormalizedEmail()
  email: string;

  @ApiProperty({
    example: '7K3M-Q9TW-1ABC-DEFG-HJKM-NPQR-STVW',
    description: 'The recovery code shown at registration',
  })
  @IsString()
  @Length(20, 64)
  recoveryCode: string;

  @ApiProperty({
    example: 'a new and longer passphrase',
    minLength: PASSWORD_MIN_LENGTH,
    maxLength: PASSWORD_MAX_LENGTH,
  })
  @IsAcceptablePassword()
  newPassword: string;
}

@ApiSchema({ name: 'PasswordConfirmation' })
export class PasswordConfirmationDto {
  @ApiProperty({ example: PASSWORD_EXAMPLE })
  @IsString()
  @Length(1, PASSWORD_MAX_LENGTH)
  password: string;
}

@ApiSchema({ name: 'Registration' })
export class RegisteredDto {
  @ApiProperty({ format: 'uuid', example: USER_ID_EXAMPLE })
  userId: string;

  @ApiProperty({ format: 'email', example: EMAIL_EXAMPLE })
  email: string;

  @ApiProperty({
    example: '7K3M-Q9TW-1ABC-DEFG-HJKM-NPQR-STVW',
    description: RECOVERY_CODE_ONCE,
  })
  recoveryCode: string;
}

@ApiSchema({ name: 'TokenPair' })
export class TokenPairDto {
  @ApiProperty({
    description: 'Short-lived JWT for the Authorization: Bearer header',
    example: ACCESS_TOKEN_EXAMPLE,
  })
  accessToken: string;

  @ApiProperty({
    description: 'Opaque; single use: each refresh returns a new one',
    example: REFRESH_TOKEN_EXAMPLE,
  })
  refreshToken: string;

  @ApiProperty({ example: 'Bearer', enum: ['Bearer'] })
  tokenType: 'Bearer';

  @ApiProperty({
    type: 'integer',
    example: 600,
    description: 'Access token lifetime in seconds',
  })
  expiresIn: number;
}

@ApiSchema({ name: 'RecoveryCode' })
export class RecoveryCodeDto {
  @ApiProperty({
    example: '7K3M-Q9TW-1ABC-DEFG-HJKM-NPQR-STVW',
    description: `${RECOVERY_CODE_ONCE} The old one no longer works.`,
  })
  recoveryCode: string;
}

@ApiSchema({ name: 'Session' })
export class SessionDto {
  @ApiProperty({
    format: 'uuid',
    example: '5d7c2b8e-9a41-4f0e-8b3c-2e6f1a9d4c77',
  })
  id: string;

  @ApiProperty({ example: '2026-11-20T09:14:03.512Z' })
  createdAt: Date;

  @ApiProperty({ example: '2026-11-20T09:41:57.108Z' })
  lastUsedAt: Date;

  @ApiProperty({ example: '2026-12-20T09:14:03.512Z' })
  expiresAt: Date;

  @ApiProperty({
    example: true,
    description: 'True for the session making this request',
  })
  current: boolean;
}

@ApiSchema({ name: 'SessionPage' })
export class SessionPageDto {
  @ApiProperty({ type: [SessionDto] })
  items: SessionDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    example:
      'MjAyNi0xMS0yMFQwOToxNDowMy41MTJafDVkN2MyYjhlLTlhNDEtNGYwZS04YjNjLTJlNmYxYTlkNGM3Nw',
    description: 'Pass as `cursor` for the next page; null on the last page',
  })
  nextCursor: string | null;
}
