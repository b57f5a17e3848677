import { isIP } from 'node:net';
import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsIn,
  IsISO8601,
  IsOptional,
  IsString,
  Length,
  Matches,
  registerDecorator,
} from 'class-validator';
import { PASSWORD_MAX_LENGTH } from '../../../auth/password-policy';
import { PAGE_CURSOR_EXAMPLE } from '../../../common/pagination/page-query.dto';
import {
  ACCESS_KEY_SCOPES,
  AccessKeyScope,
} from '../../../common/auth/access-key-scopes';

export const ACCESS_KEY_NAME_MAX_LENGTH = 100;
export const ALLOWED_ADDRESSES_MAX = 20;
const ACCESS_KEY_ID_EXAMPLE = '0f6b2c1e-8a4d-4e7b-9c3f-5d2a1b0e9f87';

/**
 * An IP address or a CIDR range (`203.0.113.0/24`, `2001:db8::/32`), prefix within its family.
 * The prefix is written without leading zeros (`/08` is refused), as `node:net` refuses them in an
 * IPv4 address (`01.2.3.4`, an octet that could be read as octal).
 */
export function isAddressOrRange(value: unknown): boolean {
  if (typeof value !== 'string' || value.length > 64) return false;
  const [address, prefix, extra] = value.split('/');
  const family = isIP(address);
  if (!family || extra !== undefined) return false;
  if (prefix === undefined) return true;
  if (!/^(0|[1-9]\d{0,2})$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

function IsAddressOrRange(): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isAddressOrRange',
      target: target.constructor,
      propertyName: String(propertyName),
      options: {
        each: true,
        message:
          'each of allowedAddresses must be an IP address or a CIDR range such as 203.0.113.0/24',
      },
      validator: { validate: isAddressOrRange },
    });
}

@ApiSchema({ name: 'CreateAccessKeyRequest' })
export class CreateAccessKeyDto {
  @ApiProperty({
    example: 'CRM sync',
    maxLength: ACCESS_KEY_NAME_MAX_LENGTH,
    description:
      'A label for you to recognise the key by; stored unencrypted, so no personal data.',
  })
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.trim() : value,
  )
  @IsString()
  @Length(1, ACCESS_KEY_NAME_MAX_LENGTH)
  // No control or formatting characters (they would hide in a list).
  @Matches(/^[^\p{Cc}\p{Cf}]*$/u, {
    message: 'name must not contain control or formatting characters',
  })
  name: string;

  @ApiProperty({
    enum: ACCESS_KEY_SCOPES,
    isArray: true,
    example: ['contacts:read', 'contacts:write'],
    description:
      'What the key may do; at least one. No scope reaches the account, the password, the keys or access keys.',
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayUnique()
  @IsIn(ACCESS_KEY_SCOPES, { each: true })
  scopes: AccessKeyScope[];

  @ApiProperty({
    type: String,
    format: 'date-time',
    example: '2027-03-01T00:00:00Z',
    description:
      'When the key stops working: in the future and at most `ACCESS_KEY_MAX_TTL` (90 days by default) away.',
  })
  @IsString()
  @IsISO8601({ strict: true, strictSeparator: true })
  expiresAt: string;

  @ApiPropertyOptional({
    type: [String],
    maxItems: ALLOWED_ADDRESSES_MAX,
    example: ['203.0.113.0/24', '2001:db8::7'],
    description:
      'Client addresses (IP addresses or CIDR ranges) the key may be used from; absent: any. The address is the one the server sees (behind `TRUST_PROXY`, the forwarded one).',
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(ALLOWED_ADDRESSES_MAX)
  @ArrayUnique()
  @IsAddressOrRange()
  allowedAddresses?: string[];

  @ApiProperty({
    example: 'correct horse battery staple',
    description: 'Your password, to confirm it is you',
  })
  @IsString()
  @Length(1, PASSWORD_MAX_LENGTH)
  password: string;
}

@ApiSchema({ name: 'AccessKey' })
export class AccessKeyDto {
  @ApiProperty({ format: 'uuid', example: ACCESS_KEY_ID_EXAMPLE })
  id: string;

  @ApiProperty({ example: 'CRM sync' })
  name: string;

  @ApiProperty({ enum: ACCESS_KEY_SCOPES, isArray: true })
  scopes: AccessKeyScope[];

  @ApiProperty({ type: String, format: 'date-time' })
  expiresAt: Date;

  @ApiProperty({
    type: [String],
    nullable: true,
    example: ['203.0.113.0/24'],
    description: 'Where the key may be used from; null: anywhere',
  })
  allowedAddresses: string[] | null;

  @ApiProperty({ type: String, format: 'date-time' })
  createdAt: Date;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description:
      'When the key was last used, to the minute (null: never); updated at most once a minute',
  })
  lastUsedAt: Date | null;
}

@ApiSchema({ name: 'CreatedAccessKey' })
export class CreatedAccessKeyDto extends AccessKeyDto {
  @ApiProperty({
    example: 'vpk_3q2-7wF0b8Xv1mYq9ZcR4nT6uJ2kL5pA0sD8fG1hK3j',
    description:
      'The key itself: send it as `Authorization: Bearer <secret>`. Shown only once, here: store it now in your secret manager. It cannot be shown again; lose it and you create a new key.',
  })
  secret: string;
}

@ApiSchema({ name: 'AccessKeyPage' })
export class AccessKeyPageDto {
  @ApiProperty({ type: [AccessKeyDto] })
  items: AccessKeyDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    example: PAGE_CURSOR_EXAMPLE,
    description: 'Pass as `cursor` for the next page; null on the last page',
  })
  nextCursor: string | null;
}
