import { DataSource } from 'typeorm';
import { installEncryptedColumns } from './install-encrypted-columns';

describe('installEncryptedColumns: the TypeORM it patches', () => {
  const options = { liveKeySql: 'SELECT 1' };

  it("refuses a DataSource whose query builders are not this TypeORM's: its guards would never run", () => {
    // What a DataSource from a second copy of typeorm looks like from here.
    const foreign = {
      isInitialized: true,
      subscribers: [],
      createQueryBuilder: () => ({}),
    } as unknown as DataSource;
    expect(() => installEncryptedColumns(foreign, options)).toThrow(
      'installEncryptedColumns: this DataSource comes from another copy of typeorm',
    );
  });

  it('gets past that check with a DataSource of the same TypeORM', () => {
    const own = new DataSource({ type: 'postgres' });
    Object.defineProperty(own, 'isInitialized', { value: true });
    expect(() => installEncryptedColumns(own, options)).not.toThrow(
      /another copy of typeorm/,
    );
  });
});
