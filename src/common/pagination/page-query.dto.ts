import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsString, Max, MaxLength, Min } from 'class-validator';
import { IsOptionalNotNull } from '../http/is-optional-not-null';

/** Page size when a list request names none. */
export const DEFAULT_PAGE_SIZE = 20;

/** A cursor as the API issues it: the page after the contact of the examples. */
export const PAGE_CURSOR_EXAMPLE =
  'MjAyNi0xMS0yMFQwOToxNDowMy41MTJafDhmMTRlNDVmLWNlZWEtNGU3YS05YjFkLTNjNWUyYTdiOWQwMQ';

/**
 * `limit` and `cursor` of every cursor-paginated list (contacts, documents, sessions): newest
 * first, `{ items, nextCursor }` back (docs/http-api.md#pagination). As a JSON body carries them
 * (POST /v1/contacts/search): `limit` must be a JSON number, `"5"` is refused like any wrong type
 * (docs/http-api.md#request-bodies).
 */
export class PageRequestDto {
  // No `default` here: openapi-typescript makes a property with a default required in the types
  // it generates for a body schema (a client would have to send `limit` with every search).
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: 100,
    example: DEFAULT_PAGE_SIZE,
    description: `Items per page; ${DEFAULT_PAGE_SIZE} when left out`,
  })
  @IsOptionalNotNull()
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({
    description: 'Opaque `nextCursor` from the previous page',
  })
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}

/**
 * `?limit=&cursor=`: the same rules, but a query string holds only text, so `limit` is converted
 * to a number first (`abc` becomes NaN, which `@IsInt` refuses).
 */
export class PageQueryDto extends PageRequestDto {
  @ApiPropertyOptional({ default: DEFAULT_PAGE_SIZE })
  @Type(() => Number)
  declare limit?: number;
}
