import { passwordProblem } from '../src/auth/password-policy.ts';

describe('password policy (NIST SP 800-63B)', () => {
  test.each([
    ['correct horse battery staple', null],
    ['Zebras eat 4 kinds of grass!', null],
    ['日本語のパスワードはとても長いです。大丈夫', null],
    ['x'.repeat(256).replace(/x/g, (_, i) => String.fromCharCode(97 + (i % 26))), null],
  ])('%s is accepted', (password, problem) => {
    expect(passwordProblem(password, 'jo.bloggs@school.example')).toBe(problem);
  });

  test.each([
    ['short one', 'at least 15 characters'],
    ['a'.repeat(257), 'at most 256 characters'],
    ['my name is jo.bloggs, hi', 'must not contain your email address'],
    ['passwordpassword', 'list of common or breached passwords'],
    ['1qaz2wsx3edc4rfv', 'list of common or breached passwords'],
    ['password1234567!', 'list of common or breached passwords'],
    ['my gatehouse password', 'name of this service'],
    ['abcabcabcabcabcabc', 'the same few characters repeated'],
  ])('%s is refused with the reason', (password, words) => {
    expect(passwordProblem(password, 'jo.bloggs@school.example')).toContain(words);
  });
});
