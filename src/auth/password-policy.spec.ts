import { checkPassword } from './password-policy';

describe('checkPassword', () => {
  it.each([
    ['correct horse battery staple', undefined],
    ['Zürich-Winter-2031!', undefined],
    ['short', 'too_short'],
    ['elevenchars', 'too_short'],
    ['x'.repeat(257), 'too_long'],
    ['a'.repeat(256) + 'é', 'too_long'],
    ['passwordpassword', 'too_common'],
    ['PASSWORD1234', 'too_common'],
    ['1q2w3e4r5t6y', 'too_common'],
    ['LeaveMeAlone', 'too_common'],
    ['aaaaaaaaaaaa', 'too_common'],
    ['abcabcabcabc', 'too_common'],
  ])('%p → %p', (password, expected) => {
    expect(checkPassword(password)).toBe(expected);
  });

  it('counts code points after NFC, so 12 accented letters are 12 characters', () => {
    expect(checkPassword('e\u0301'.repeat(6) + 'fghijk')).toBeUndefined();
  });

  it('accepts exactly 256 characters and does not truncate', () => {
    expect(checkPassword('a1b2c3d4'.repeat(32))).toBeUndefined();
  });
});
