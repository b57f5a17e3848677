import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import { RECOVERY_CODE_ONCE } from '../../auth/dto/auth.dto';

@ApiSchema({ name: 'RotatedKeys' })
export class RotatedKeysDto {
  @ApiProperty({
    type: 'integer',
    example: 2,
    description: 'The new data key version: it encrypts new data from now on',
  })
  keyVersion: number;

  @ApiProperty({
    example: '7K3M-Q9TW-1ABC-DEFG-HJKM-NPQR-STVW',
    description: `The new recovery code. ${RECOVERY_CODE_ONCE} The previous one no longer works.`,
  })
  recoveryCode: string;
}
