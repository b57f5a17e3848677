import {
  DEFAULT_UNLOCK_RECHECK_MS,
  MAX_ADOPTION_BATCH_ROWS,
  type PlaintextAdoptionModuleOptions,
  resolvePlaintextAdoptionOptions,
} from './plaintext-adoption.options';

const liveKeySql =
  'SELECT 1 FROM user_data_keys WHERE user_id = $1 AND key_version = $2 FOR KEY SHARE';

describe('resolvePlaintextAdoptionOptions', () => {
  it('fills in the defaults: 500 rows per batch, an unlock recheck every 10 minutes', () => {
    expect(resolvePlaintextAdoptionOptions({ liveKeySql })).toEqual({
      liveKeySql,
      batchRows: 500,
      unlockRecheckMs: DEFAULT_UNLOCK_RECHECK_MS,
      observer: undefined,
    });
    expect(DEFAULT_UNLOCK_RECHECK_MS).toBe(600_000);
  });

  it('keeps what it is given', () => {
    const observer = {
      runEnded: () => undefined,
      rowsAdopted: () => undefined,
    };
    expect(
      resolvePlaintextAdoptionOptions({
        liveKeySql,
        batchRows: 1,
        unlockRecheckMs: 0,
        observer,
      }),
    ).toEqual({ liveKeySql, batchRows: 1, unlockRecheckMs: 0, observer });
  });

  it.each([
    ['no options', undefined, 'options are required'],
    ['no liveKeySql', {}, 'liveKeySql must be a query over $1'],
    ['a liveKeySql without $2', { liveKeySql: 'SELECT $1' }, 'liveKeySql'],
    ['a liveKeySql that is not a string', { liveKeySql: 42 }, 'liveKeySql'],
    [
      'batchRows 0',
      { liveKeySql, batchRows: 0 },
      'batchRows must be an integer',
    ],
    ['batchRows 2.5', { liveKeySql, batchRows: 2.5 }, 'batchRows'],
    ['batchRows as text', { liveKeySql, batchRows: '500' }, 'batchRows'],
    [
      'batchRows above the maximum',
      { liveKeySql, batchRows: MAX_ADOPTION_BATCH_ROWS + 1 },
      'batchRows',
    ],
    [
      'a negative unlockRecheckMs',
      { liveKeySql, unlockRecheckMs: -1 },
      'unlockRecheckMs',
    ],
    [
      'an infinite unlockRecheckMs',
      { liveKeySql, unlockRecheckMs: Infinity },
      'unlockRecheckMs',
    ],
    [
      'unlockRecheckMs as text',
      { liveKeySql, unlockRecheckMs: '60000' },
      'unlockRecheckMs',
    ],
    ['a null observer', { liveKeySql, observer: null }, 'observer must have'],
    [
      'an observer without rowsAdopted',
      { liveKeySql, observer: { runEnded: () => undefined } },
      'observer must have runEnded() and rowsAdopted()',
    ],
  ])('refuses %s', (_name, options, message) => {
    expect(() =>
      resolvePlaintextAdoptionOptions(
        options as unknown as PlaintextAdoptionModuleOptions,
      ),
    ).toThrow(message);
  });

  it('never quotes the query in its error', () => {
    expect(() =>
      resolvePlaintextAdoptionOptions({ liveKeySql: 'SELECT secret_column' }),
    ).toThrow(
      /^PlaintextAdoptionModule: liveKeySql must be a query over \$1 \(owner id\) and \$2 \(key version\)$/,
    );
  });
});
