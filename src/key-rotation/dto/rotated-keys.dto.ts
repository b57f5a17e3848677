import { ApiProperty } from '@nestjs/swagger';

export class RotatedKeysDto {
  @ApiProperty({
    example: 2,
    description: 'The new data key version: it encrypts new data from now on',
  })
  keyVersion: number;

  @ApiProperty({
    example: '7K3M-Q9TW-1ABC-DEFG-HJKM-NPQR-STVW',
    description:
      'The new recovery code, shown once; the previous one no longer works',
  })
  recoveryCode: string;
}
