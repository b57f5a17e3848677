import type { HeaderObject } from '@nestjs/swagger';

/** The `Location` of a 201 that created a resource (RFC 9110 §10.2.2), as the document shows it. */
export function locationHeader(resource: string): Record<string, HeaderObject> {
  return {
    Location: {
      description: `The path of the new ${resource}, where GET reads it`,
      required: true,
      schema: { type: 'string', format: 'uri-reference' },
    },
  };
}
