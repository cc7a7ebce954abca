import { askedForUserinfoOnly } from '../src/oidc/accounts.ts';

/** OIDC Core §5.5: which claims a `claims` request keeps out of the ID token. */
describe('askedForUserinfoOnly', () => {
  test('a claim asked for under userinfo and not under id_token', () => {
    expect(askedForUserinfoOnly({ userinfo: { name: { essential: true }, email: null } })).toEqual(new Set(['name', 'email']));
  });

  test('not one asked for in both places, even as null', () => {
    expect(askedForUserinfoOnly({ userinfo: { name: null, email: null }, id_token: { name: null } })).toEqual(new Set(['email']));
  });

  test('never sub, which every ID token carries', () => {
    expect(askedForUserinfoOnly({ userinfo: { sub: { value: 'x' }, school_id: null } })).toEqual(new Set(['school_id']));
  });

  test('nothing without a userinfo request', () => {
    expect(askedForUserinfoOnly(undefined)).toEqual(new Set());
    expect(askedForUserinfoOnly({ id_token: { name: null } })).toEqual(new Set());
    expect(askedForUserinfoOnly({ userinfo: null, id_token: null })).toEqual(new Set());
  });

  test('an id_token request is read for its own keys, not inherited ones', () => {
    expect(askedForUserinfoOnly({ userinfo: { toString: null, constructor: null }, id_token: {} })).toEqual(
      new Set(['toString', 'constructor']),
    );
  });
});
