import { forgetOlderThan } from './key-rotation.job';

describe("forgetOlderThan (the rotation job's per-user retry and recheck times)", () => {
  const times = (entries: [string, number][]) => new Map(entries);

  it('leaves a small map alone', () => {
    const map = times([
      ['a', 0],
      ['b', 500],
    ]);
    forgetOlderThan(map, 100, 1_000, 3);
    expect([...map.keys()]).toEqual(['a', 'b']);
  });

  it('drops only the entries at least ageMs old once the map has grown', () => {
    const map = times([
      ['old', 0],
      ['edge', 900],
      ['young', 950],
      ['now', 1_000],
    ]);
    forgetOlderThan(map, 100, 1_000, 3);
    expect([...map.keys()]).toEqual(['young', 'now']);
  });

  it('stays bounded by the users seen within the window, however many pass through', () => {
    const map = new Map<string, number>();
    for (let now = 0; now < 10_000; now++) {
      forgetOlderThan(map, 50, now, 64);
      map.set(`user-${now}`, now);
    }
    expect(map.size).toBeLessThanOrEqual(64);
  });
});
