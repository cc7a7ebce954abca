/**
 * The one spelling of an email address that Gatehouse compares, stores for lookup and counts
 * guesses against: Unicode NFKC (fullwidth letters, the Kelvin sign,
 * the long s and combining accents become their ordinary forms), then one case fold.
 *
 * Everything that asks "is this the same address?" goes through here: the accounts table keeps
 * this value in `email_normalised` (PostgreSQL's own `lower()` folds some letters differently,
 * e.g. `İ`, so it is never used for the comparison), and the throttle keys unknown addresses by
 * it. The fold is JavaScript's `toLowerCase()` (locale-independent); NFKC is applied again and
 * surrounding space trimmed last (NFKC can turn a character into a space and a combining mark),
 * so the result is stable: normalising a normalised address changes nothing.
 */
export function normaliseEmail(typed: string): string {
  return typed.normalize('NFKC').toLowerCase().normalize('NFKC').trim();
}
