import {
  ApiProperty,
  ApiPropertyOptional,
  ApiSchema,
  IntersectionType,
  PartialType,
} from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsNormalizedEmail } from '../../common/http/is-normalized-email';
import { IsOptionalNotNull } from '../../common/http/is-optional-not-null';
import {
  PAGE_CURSOR_EXAMPLE,
  PageQueryDto,
  PageRequestDto,
} from '../../common/pagination/page-query.dto';
import { EMAIL_MAX_LENGTH } from '../../crypto/email-address';
import {
  IsOptional,
  IsString,
  Length,
  Matches,
  MaxLength,
  ValidateIf,
} from 'class-validator';

const PHONE = /^\+?[0-9 ()./-]{3,32}$/;
const PHONE_MESSAGE =
  'phone must be a phone number (digits, spaces, + ( ) . / -)';
const trim = () =>
  Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.trim() : value,
  );

@ApiSchema({ name: 'CreateContactRequest' })
export class CreateContactDto {
  @ApiProperty({ example: 'Grace Hopper', maxLength: 200 })
  @trim()
  @IsString()
  @Length(1, 200)
  fullName: string;

  @ApiPropertyOptional({
    type: String,
    format: 'email',
    nullable: true,
    example: 'grace@example.org',
    maxLength: EMAIL_MAX_LENGTH,
  })
  @IsOptional()
  @ValidateIf((_, value) => value !== null)
  @IsNormalizedEmail()
  email?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    example: '+1 (555) 010-9999',
  })
  @IsOptional()
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @Matches(PHONE, { message: PHONE_MESSAGE })
  phone?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    example: '1 Navy Yard, Arlington VA',
    maxLength: 500,
  })
  @IsOptional()
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @Length(1, 500)
  address?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    example: 'Met at the COBOL committee',
    maxLength: 2000,
  })
  @IsOptional()
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @MaxLength(2000)
  notes?: string | null;
}

/**
 * PATCH changes only the fields sent. A field left out is unchanged; `null` clears a field that
 * may be empty and is refused (400) for one that may not (`fullName`): `skipNullProperties:
 * false` validates a null instead of letting it through to a NOT NULL column.
 */
@ApiSchema({ name: 'UpdateContactRequest' })
export class UpdateContactDto extends PartialType(CreateContactDto, {
  skipNullProperties: false,
}) {}

/**
 * What a contact search matches, exactly, through the blind indexes: one set of rules for the
 * search body (`SearchContactsDto`) and the deprecated query form (`ListContactsQueryDto`).
 */
export class ContactFilterDto {
  @ApiPropertyOptional({
    description:
      'Exact match on the normalised address (docs/http-api.md#emails), through a blind index',
    format: 'email',
    example: 'grace@example.org',
    maxLength: EMAIL_MAX_LENGTH,
  })
  @IsOptionalNotNull()
  @IsNormalizedEmail()
  email?: string;

  @ApiPropertyOptional({
    description:
      'Exact match on the digits (and leading +), through a blind index',
    example: '+15550109999',
  })
  @IsOptionalNotNull()
  @IsString()
  @Matches(PHONE, { message: PHONE_MESSAGE })
  phone?: string;
}

/**
 * POST /v1/contacts/search: the filter travels in the body, where gateways and APM agents do not
 * log it as they log a query string. The cursor is a position only (it holds nothing of the
 * filter): send the same `email`/`phone` with it to continue the search.
 */
@ApiSchema({ name: 'SearchContactsRequest' })
export class SearchContactsDto extends IntersectionType(
  PageRequestDto,
  ContactFilterDto,
) {
  @ApiPropertyOptional({ example: PAGE_CURSOR_EXAMPLE })
  declare cursor?: string;
}

const QUERY_SEARCH_DEPRECATED =
  'Deprecated: use POST /v1/contacts/search, which takes it in the JSON body. A query string ' +
  'is written to the access logs of proxies, gateways and APM tools, and this is personal data.';

/**
 * GET /v1/contacts: `limit`/`cursor` page through the list; `email`/`phone` are the search's
 * older, deprecated form (kept for existing clients), matched by the same rules.
 */
export class ListContactsQueryDto extends IntersectionType(
  PageQueryDto,
  ContactFilterDto,
) {
  @ApiPropertyOptional({
    deprecated: true,
    description: QUERY_SEARCH_DEPRECATED,
  })
  declare email?: string;

  @ApiPropertyOptional({
    deprecated: true,
    description: QUERY_SEARCH_DEPRECATED,
  })
  declare phone?: string;
}

@ApiSchema({ name: 'Contact' })
export class ContactDto {
  @ApiProperty({
    format: 'uuid',
    example: '8f14e45f-ceea-4e7a-9b1d-3c5e2a7b9d01',
  })
  id: string;

  @ApiProperty({ example: 'Grace Hopper' })
  fullName: string;

  @ApiProperty({
    type: String,
    format: 'email',
    nullable: true,
    example: 'grace@example.org',
  })
  email: string | null;

  @ApiProperty({ type: String, nullable: true, example: '+1 (555) 010-9999' })
  phone: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: '1 Navy Yard, Arlington VA',
  })
  address: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'Met at the COBOL committee',
  })
  notes: string | null;

  @ApiProperty({ example: '2026-11-20T09:14:03.512Z' })
  createdAt: Date;

  @ApiProperty({ example: '2026-11-21T16:02:44.930Z' })
  updatedAt: Date;
}

@ApiSchema({ name: 'ContactPage' })
export class ContactPageDto {
  @ApiProperty({ type: [ContactDto] })
  items: ContactDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    example: PAGE_CURSOR_EXAMPLE,
    description: 'Pass as `cursor` for the next page; null on the last page',
  })
  nextCursor: string | null;
}
