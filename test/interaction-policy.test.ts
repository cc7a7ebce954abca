import type { KoaContextWithOIDC } from 'oidc-provider';
import { ACR_BASIC, ACR_HIGHER, type AccessService } from '../src/domain/access.ts';
import {
  ACCOUNT_CLIENT_ID,
  AUTHENTICATOR_PROMPT,
  createInteractionPolicy,
  ENROL_OFFER_PROMPT,
  SCHOOL_ACCESS_PROMPT,
  SCHOOL_CHOICE_PROMPT,
} from '../src/oidc/policy.ts';

/**
 * The interaction policy's checks, called directly with a stand-in context and access rules:
 * which prompt each one asks for, and when. test/oidc-flow.test.ts and the browser tests keep the
 * journeys through the real provider.
 */

type Ask = {
  accountId?: string;
  amr?: string[];
  clientId?: string;
  acrValues?: string;
  claims?: unknown;
  login?: boolean;
  grantFor?: Record<string, string>;
};
const ctxOf = (ask: Ask): KoaContextWithOIDC =>
  ({
    oidc: {
      session: ask.accountId
        ? { accountId: ask.accountId, amr: ask.amr, grantIdFor: (clientId: string) => ask.grantFor?.[clientId] }
        : undefined,
      client: ask.clientId ? { clientId: ask.clientId } : undefined,
      params: { acr_values: ask.acrValues },
      claims: ask.claims ?? {},
      result: ask.login ? { login: { accountId: ask.accountId } } : undefined,
    },
  }) as unknown as KoaContextWithOIDC;

type Rules = { usable?: boolean; needsCode?: boolean; canSignIn?: boolean; offer?: boolean; choose?: boolean };
function policyWith(rules: Rules = {}) {
  const calls: string[] = [];
  const access = {
    canHoldSession: async (id: string) => (calls.push(`canHoldSession:${id}`), rules.usable ?? true),
    needsCode: async (id: string, amr: string[] | undefined) => (calls.push(`needsCode:${id}:${amr?.join('+')}`), rules.needsCode ?? false),
    canSignIn: async (id: string, clientId: string) => (calls.push(`canSignIn:${id}:${clientId}`), rules.canSignIn ?? true),
    shouldOfferEnrolment: async (id: string, clientId: string) => (calls.push(`offer:${id}:${clientId}`), rules.offer ?? false),
    needsSchoolChoice: async (id: string, clientId: string, grantId: string | undefined) => (
      calls.push(`choice:${id}:${clientId}:${grantId}`), rules.choose ?? false
    ),
  } as unknown as AccessService;
  const policy = createInteractionPolicy(access);
  const check = async (prompt: string, reason: string, ask: Ask) => {
    const found = policy.get(prompt)!.checks.get(reason)!;
    return found.check(ctxOf(ask));
  };
  return { policy, check, calls };
}

test('prompts in order: login, authenticator, school access, school choice, enrolment offer, consent', () => {
  const { policy } = policyWith();
  expect([...policy].map((prompt) => prompt.name)).toEqual([
    'login',
    AUTHENTICATOR_PROMPT,
    SCHOOL_ACCESS_PROMPT,
    SCHOOL_CHOICE_PROMPT,
    ENROL_OFFER_PROMPT,
    'consent',
  ]);
  expect(policy.get(AUTHENTICATOR_PROMPT)!.requestable).toBe(false);
  expect(policy.get(SCHOOL_ACCESS_PROMPT)!.requestable).toBe(false);
  expect(policy.get(SCHOOL_CHOICE_PROMPT)!.requestable).toBe(false);
  expect(policy.get(ENROL_OFFER_PROMPT)!.requestable).toBe(false);
});

test('every check of Gatehouse says in words what it checks', () => {
  const { policy } = policyWith();
  const ours = ['account_unavailable', 'code_required', 'higher_requested', 'no_membership', 'higher_without_device', 'school_not_chosen'];
  const checks = [...policy].flatMap((prompt) => [...prompt.checks]).filter((check) => ours.includes(check.reason));
  expect(checks.map((check) => check.reason).sort()).toEqual([...ours].sort());
  for (const check of checks) expect(check.description).toMatch(/^(the|a) .{20,}/);
});

test('login: a password cannot satisfy an acr request, and a session of a locked account must sign in again', async () => {
  const { policy } = policyWith();
  const reasons = [...policy.get('login')!.checks].map((check) => check.reason);
  expect(reasons).not.toContain('essential_acr');
  expect(reasons).not.toContain('essential_acrs');
  expect(reasons[1]).toBe('account_unavailable');
  expect(policy.get('login')!.checks.get('account_unavailable')!.error).toBe('login_required');
  expect(await policyWith({ usable: false }).check('login', 'account_unavailable', { accountId: 'a' })).toBe(true);
  expect(await policyWith({ usable: true }).check('login', 'account_unavailable', { accountId: 'a' })).toBe(false);
  const none = policyWith({ usable: false });
  expect(await none.check('login', 'account_unavailable', {})).toBe(false);
  expect(none.calls).toEqual([]);
});

describe('authenticator prompt', () => {
  test('code_required asks when the access rules say a code is needed for this session', async () => {
    const needs = policyWith({ needsCode: true });
    expect(await needs.check(AUTHENTICATOR_PROMPT, 'code_required', { accountId: 'a', amr: ['pwd'] })).toBe(true);
    expect(needs.calls).toEqual(['needsCode:a:pwd']);
    expect(await policyWith({ needsCode: false }).check(AUTHENTICATOR_PROMPT, 'code_required', { accountId: 'a', amr: ['pwd'] })).toBe(
      false,
    );
    expect(await needs.check(AUTHENTICATOR_PROMPT, 'code_required', {})).toBe(false);
    expect(policyWith().policy.get(AUTHENTICATOR_PROMPT)!.checks.get('code_required')!.error).toBe('login_required');
  });

  test('higher_requested asks when a client asks for higher access and the session passed no code (essential acr too)', async () => {
    const { check, policy } = policyWith();
    expect(policy.get(AUTHENTICATOR_PROMPT)!.checks.get('higher_requested')!.error).toBe('interaction_required');
    expect(await check(AUTHENTICATOR_PROMPT, 'higher_requested', { accountId: 'a', amr: ['pwd'], acrValues: ACR_HIGHER })).toBe(true);
    expect(
      await check(AUTHENTICATOR_PROMPT, 'higher_requested', {
        accountId: 'a',
        amr: ['pwd'],
        claims: { id_token: { acr: { essential: true, value: ACR_HIGHER } } },
      }),
    ).toBe(true);
    expect(
      await check(AUTHENTICATOR_PROMPT, 'higher_requested', { accountId: 'a', amr: ['pwd'], acrValues: `${ACR_BASIC} ${ACR_HIGHER}` }),
    ).toBe(false);
    expect(await check(AUTHENTICATOR_PROMPT, 'higher_requested', { accountId: 'a', amr: ['pwd', 'otp'], acrValues: ACR_HIGHER })).toBe(
      false,
    );
    expect(await check(AUTHENTICATOR_PROMPT, 'higher_requested', { acrValues: ACR_HIGHER })).toBe(false);
    const noParams = {
      oidc: { session: { accountId: 'a', amr: ['pwd'] }, client: { clientId: 'c' }, params: undefined, claims: {} },
    } as unknown as KoaContextWithOIDC;
    expect(await policy.get(AUTHENTICATOR_PROMPT)!.checks.get('higher_requested')!.check(noParams)).toBe(false);
    // oidc-provider's claims may have no id_token member at all.
    expect(await check(AUTHENTICATOR_PROMPT, 'higher_requested', { accountId: 'a', amr: ['pwd'], claims: { userinfo: {} } })).toBe(false);
  });
});

test('school access: refused without a membership at a school of the client; the account pages serve no school', async () => {
  const refused = policyWith({ canSignIn: false });
  expect(await refused.check(SCHOOL_ACCESS_PROMPT, 'no_membership', { accountId: 'a', clientId: 'c' })).toBe(true);
  expect(refused.calls).toEqual(['canSignIn:a:c']);
  expect(await policyWith({ canSignIn: true }).check(SCHOOL_ACCESS_PROMPT, 'no_membership', { accountId: 'a', clientId: 'c' })).toBe(false);
  expect(await refused.check(SCHOOL_ACCESS_PROMPT, 'no_membership', { accountId: 'a', clientId: ACCOUNT_CLIENT_ID })).toBe(false);
  expect(await refused.check(SCHOOL_ACCESS_PROMPT, 'no_membership', { accountId: 'a' })).toBe(false);
  expect(await refused.check(SCHOOL_ACCESS_PROMPT, 'no_membership', { clientId: 'c' })).toBe(false);
  expect(refused.policy.get(SCHOOL_ACCESS_PROMPT)!.checks.get('no_membership')!.error).toBe('access_denied');
});

test('school choice: asked when the rules say so, for this grant; never for the account pages', async () => {
  const choose = policyWith({ choose: true });
  expect(await choose.check(SCHOOL_CHOICE_PROMPT, 'school_not_chosen', { accountId: 'a', clientId: 'c', grantFor: { c: 'g1' } })).toBe(
    true,
  );
  expect(choose.calls).toEqual(['choice:a:c:g1']);
  expect(await policyWith({ choose: false }).check(SCHOOL_CHOICE_PROMPT, 'school_not_chosen', { accountId: 'a', clientId: 'c' })).toBe(
    false,
  );
  expect(await choose.check(SCHOOL_CHOICE_PROMPT, 'school_not_chosen', { accountId: 'a', clientId: ACCOUNT_CLIENT_ID })).toBe(false);
  expect(await choose.check(SCHOOL_CHOICE_PROMPT, 'school_not_chosen', { accountId: 'a' })).toBe(false);
  expect(await choose.check(SCHOOL_CHOICE_PROMPT, 'school_not_chosen', { clientId: 'c' })).toBe(false);
  expect(choose.policy.get(SCHOOL_CHOICE_PROMPT)!.checks.get('school_not_chosen')!.error).toBe('interaction_required');
});

test('enrolment offer: only straight after a password login, when the rules say so', async () => {
  const offer = policyWith({ offer: true });
  expect(await offer.check(ENROL_OFFER_PROMPT, 'higher_without_device', { accountId: 'a', clientId: 'c', login: true })).toBe(true);
  expect(offer.calls).toEqual(['offer:a:c']);
  expect(await offer.check(ENROL_OFFER_PROMPT, 'higher_without_device', { accountId: 'a', clientId: 'c', login: false })).toBe(false);
  expect(await offer.check(ENROL_OFFER_PROMPT, 'higher_without_device', { accountId: 'a', login: true })).toBe(false);
  expect(await offer.check(ENROL_OFFER_PROMPT, 'higher_without_device', { clientId: 'c', login: true })).toBe(false);
  expect(
    await policyWith({ offer: false }).check(ENROL_OFFER_PROMPT, 'higher_without_device', { accountId: 'a', clientId: 'c', login: true }),
  ).toBe(false);
  expect(offer.policy.get(ENROL_OFFER_PROMPT)!.checks.get('higher_without_device')!.error).toBe('interaction_required');
});
