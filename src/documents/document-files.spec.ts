import { availableBytes, isBelowMinimumFreeSpace } from './document-files';

describe('the documents volume free-space check (DOCUMENTS_MIN_FREE_SPACE)', () => {
  const volume = (bavail: number, bsize = 4096) => ({ bavail, bsize });

  it('counts the blocks available to the app, not the blocks only root may use', () => {
    // statfs's bfree includes the reserve (ext4's 5 %) that an unprivileged process cannot use.
    const stats = { bavail: 10, bfree: 1_000, bsize: 4096 };
    expect(availableBytes(stats)).toBe(40_960);
  });

  it('is below at one block short of the minimum, not at the minimum itself', () => {
    expect(isBelowMinimumFreeSpace(volume(24), 100_000)).toBe(true); // 98,304 bytes
    expect(isBelowMinimumFreeSpace(volume(25), 102_400)).toBe(false); // exactly
    expect(isBelowMinimumFreeSpace(volume(26), 102_400)).toBe(false);
  });

  it('a full volume is below any minimum but 0, which turns the check off', () => {
    expect(isBelowMinimumFreeSpace(volume(0), 1)).toBe(true);
    expect(isBelowMinimumFreeSpace(volume(0), 0)).toBe(false);
  });

  it('works in bytes whatever the block size', () => {
    expect(isBelowMinimumFreeSpace(volume(1, 65_536), 65_536)).toBe(false);
    expect(isBelowMinimumFreeSpace(volume(1, 512), 513)).toBe(true);
  });
});
