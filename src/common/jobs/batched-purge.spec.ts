import { purgeInBatches } from './batched-purge';

describe('purgeInBatches', () => {
  const run = (batches: number[], maxBatches = 10) => {
    const left = [...batches];
    return purgeInBatches(() => Promise.resolve(left.shift() ?? 0), {
      batchRows: 3,
      maxBatches,
    });
  };

  it('stops after the first batch that deletes fewer than a full batch', async () => {
    expect(await run([3, 3, 1, 3])).toEqual({ deleted: 7, batches: 3 });
    expect(await run([0])).toEqual({ deleted: 0, batches: 1 });
  });

  it('stops after maxBatches even while batches are full', async () => {
    expect(await run([3, 3, 3, 3], 2)).toEqual({ deleted: 6, batches: 2 });
  });
});
