import { getMetadataArgsStorage } from 'typeorm';
import { EncryptedColumn, EncryptedValueTransformer } from './encrypted-column';

describe('@EncryptedColumn({ adoptPlaintext })', () => {
  it('refuses adoptPlaintext: true while reading legacy plaintext is not implemented', () => {
    expect(() => {
      class Legacy {
        @EncryptedColumn({ adoptPlaintext: true })
        note: string | null;
      }
      return Legacy;
    }).toThrow(
      'Legacy.note: @EncryptedColumn({ adoptPlaintext: true }) is not implemented yet',
    );
  });

  it('declares an ordinary encrypted column otherwise, whose transformer adopts no plaintext', () => {
    class Current {
      @EncryptedColumn({ adoptPlaintext: false })
      note: string | null;
    }
    const column = getMetadataArgsStorage().columns.find(
      (args) => args.target === Current && args.propertyName === 'note',
    );
    const transformer = column?.options.transformer;
    expect(transformer).toBeInstanceOf(EncryptedValueTransformer);
    expect((transformer as EncryptedValueTransformer).adoptsPlaintext).toBe(
      false,
    );
  });
});
