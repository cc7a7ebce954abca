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

describe('password policy: the edges of each rule', () => {
  test('15 characters is enough, 14 is not; characters are counted, not UTF-16 units', () => {
    expect(passwordProblem('quiet library x', 'jo.bloggs@school.example')).toBeNull();
    expect(passwordProblem('quiet library', 'jo.bloggs@school.example')).toContain('at least 15');
    expect(passwordProblem('quiet librar🐴🐴', 'jo.bloggs@school.example')).toContain('at least 15');
  });

  test('the email local part counts from three letters', () => {
    expect(passwordProblem('my friend amy is lovely', 'amy@school.example')).toContain('your email address');
    expect(passwordProblem('a jolly long sentence', 'jo@school.example')).toBeNull();
  });

  test('a word repeated three times or more is refused too', () => {
    expect(passwordProblem('abcdeabcdeabcde', 'jo@school.example')).toContain('repeated');
  });

  test('digits and symbols are trimmed from the ends only, all of them, before the list is checked', () => {
    expect(passwordProblem('12345678password', 'jo@school.example')).toContain('common or breached');
    expect(passwordProblem('12345678901love!', 'jo@school.example')).toContain('common or breached');
    // Inside the password they stay: "pass word" is not "password".
    expect(passwordProblem('!!!pass word!!!', 'jo@school.example')).toBeNull();
    // A core shorter than four letters is not looked up ("joe" is on the list).
    expect(passwordProblem('123456789012joe!', 'jo@school.example')).toBeNull();
  });
});
