import type { RegistrationResponseJSON } from '@simplewebauthn/server';
import type { Context } from 'koa';
import { z } from 'zod';
import { passedSecondFactor, passkeyAmr } from '../domain/access.ts';
import { isDomainError, notFound } from '../domain/errors.ts';
import { passkeyNameRefusal, passkeyNotCreated, type Passkey } from '../domain/passkeys.ts';
import { forms } from '../http/forms.ts';
import { BAD_FORM } from '../interactions/pages.ts';
import { assertionOf } from '../interactions/passkey-routes.ts';
import { accountReturnPath, deviceIdParam, parseForm } from '../interactions/schemas.ts';
import { KEYS, type AccountPages } from './routes.ts';
import type { SignedInAccount } from './session.ts';

/** Text as PostgreSQL can store it (no NUL), as in schemas.ts. */
const text = () => z.string().refine((value) => !value.includes('\u0000'));

/** The add page's form: the name, and the browser's answer as JSON (put there by passkey-account.js). */
const addForm = z.object({
  name: text().pipe(z.string().max(200)).default(''),
  response: text().pipe(z.string().max(12_000)).default(''),
});

/** "Confirm with a passkey": the assertion as JSON, and where to go back to. */
const confirmForm = z.object({
  response: text().pipe(z.string().max(12_000)).default(''),
  next: text().pipe(z.string().max(256)).default(''),
});

/** base64url without padding, as @simplewebauthn/browser sends every binary field. */
const base64url = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9_-]+$/);

/**
 * A RegistrationResponseJSON, checked for shape before the library sees it: a credential id is
 * at most 1023 bytes, an attestation 'none' is small (an RSA key makes it a few hundred bytes more).
 */
const registrationShape = z.object({
  id: base64url(1400),
  rawId: base64url(1400),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64url(4096),
    attestationObject: base64url(8192),
    transports: z.array(z.string().max(32)).max(8).optional(),
  }),
  clientExtensionResults: z.object({}).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
});

function registrationOf(json: string): RegistrationResponseJSON | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return undefined;
  }
  const result = registrationShape.safeParse(parsed);
  return result.success ? (result.data as RegistrationResponseJSON) : undefined;
}

/** Options are read by the page's script, never cached: each holds a single-use challenge. */
function json(ctx: Context, body: unknown, status = 200) {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = body;
}

/** What routes.ts lends these routes: its confirm page, and marking the session as past its second factor. */
export type PasskeyPageParts = {
  confirmPage(ctx: Context, current: SignedInAccount, next: string, errors: Record<string, string>, status: number): Promise<void>;
  recordSecondFactor(ctx: Context, amr: string[]): Promise<void>;
};

/**
 * Security keys > passkeys: add one (named; the browser makes it, the server checks and keeps
 * it), remove one, both after fresh proof as for devices; and "Confirm with a passkey" on the
 * confirm page, which is fresh proof of both factors at once.
 */
export function passkeyRoutes(kit: AccountPages, parts: PasskeyPageParts): void {
  const { router, services, csrf, page, say, signedIn, freshProofOrConfirm, whereOf } = kit;
  // Here, not at the top: routes.ts imports this module before its own constants exist.
  const ADD = `${KEYS}/passkeys/new`;
  const OPTIONS = `${KEYS}/passkeys/options`;
  const removeOf = (passkey: Passkey) => `${KEYS}/passkeys/${passkey.id}/remove`;

  const addPage = (ctx: Context, context: Record<string, unknown> = {}, status = 200) =>
    page(ctx, 'add-passkey', { tab: 'keys', action: ADD, options: OPTIONS, cancelLink: KEYS, ...context }, status);

  router.get(ADD, async (ctx) => {
    const current = await signedIn(ctx);
    if (!current || !(await freshProofOrConfirm(ctx, current, ADD))) return;
    addPage(ctx);
  });

  // Asked by the page's script: when the proof went stale meanwhile, it is sent to confirm first.
  router.post(OPTIONS, forms, csrf.verify, async (ctx) => {
    const current = (await signedIn(ctx))!;
    if (!(await services.freshProof.check(current.session)).fresh) {
      return json(ctx, { confirm: `/account/confirm?${new URLSearchParams({ next: ADD })}` }, 403);
    }
    json(ctx, await services.passkeys.registrationOptions(current.account, current.session.sessionUid));
  });

  router.post(ADD, forms, csrf.verify, async (ctx) => {
    const current = (await signedIn(ctx))!;
    const proof = await freshProofOrConfirm(ctx, current, ADD);
    if (!proof) return;
    const form = parseForm(addForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    const response = registrationOf(form.response);
    let passkey: Passkey;
    try {
      // Without a usable answer from the browser, the name is still checked first: that is what to fix.
      if (!response) throw passkeyNameRefusal(form.name) ?? passkeyNotCreated();
      passkey = await services.passkeys.register(current.account, current.session.sessionUid, response, form.name, whereOf(ctx));
    } catch (error) {
      if (!isDomainError(error) || error.kind !== 'validation' || !error.words) throw error;
      return addPage(ctx, { name: form.name, [`${error.field}Error`]: say(ctx, error.words) }, 400);
    }
    // A first passkey makes the account one with a second factor: this session proved it just now.
    if (!passedSecondFactor(current.amr)) {
      const afterPassword = current.amr.includes('pwd');
      await parts.recordSecondFactor(ctx, passkeyAmr({ backupEligible: passkey.synced, userVerified: true, afterPassword }));
    }
    // The proof given a moment ago stays enough for the next change, as after a first device.
    if (!proof.needsCode) await services.freshProof.recordCode(current.session, null);
    ctx.status = 303;
    ctx.redirect(`${KEYS}?done=passkey-added`);
  });

  const passkeyOf = async (ctx: Context, current: SignedInAccount) => {
    const id = deviceIdParam.safeParse(ctx.params.id);
    const passkey = id.success ? (await services.passkeys.list(current.account.id)).find((p) => p.id === id.data) : undefined;
    if (!passkey) throw notFound('That passkey is not on your account.', { key: 'passkeys.notOnAccount' });
    return passkey;
  };

  router.get(`${KEYS}/passkeys/:id/remove`, async (ctx) => {
    const current = await signedIn(ctx);
    if (!current) return;
    const passkey = await passkeyOf(ctx, current);
    if (!(await freshProofOrConfirm(ctx, current, removeOf(passkey)))) return;
    page(ctx, 'remove-passkey', { passkey, action: removeOf(passkey), cancelLink: KEYS, tab: 'keys' });
  });

  router.post(`${KEYS}/passkeys/:id/remove`, forms, csrf.verify, async (ctx) => {
    const current = (await signedIn(ctx))!;
    const passkey = await passkeyOf(ctx, current);
    if (!(await freshProofOrConfirm(ctx, current, removeOf(passkey)))) return;
    await services.passkeys.remove(current.account, passkey.id, whereOf(ctx));
    ctx.status = 303;
    ctx.redirect(`${KEYS}?done=passkey-removed`);
  });

  // "Confirm it's you" with a passkey: its own passkeys only, user verification required, bound to this session.
  router.post('/account/confirm/passkey/options', forms, csrf.verify, async (ctx) => {
    const current = (await signedIn(ctx))!;
    json(ctx, await services.passkeys.authenticationOptions({ purpose: 'confirm', binding: current.session.sessionUid }, current.account));
  });

  router.post('/account/confirm/passkey', forms, csrf.verify, async (ctx) => {
    const current = (await signedIn(ctx))!;
    const form = parseForm(confirmForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    const returnTo = accountReturnPath.safeParse(form.next);
    const next = returnTo.success ? returnTo.data : KEYS;
    const response = assertionOf(form.response);
    const check = response
      ? await services.passkeys.verify({ purpose: 'confirm', binding: current.session.sessionUid }, response, whereOf(ctx), {
          account: current.account,
          afterPassword: false,
        })
      : undefined;
    if (!check?.ok) {
      return parts.confirmPage(ctx, current, next, { passkeyError: say(ctx, 'passkeys.confirm.refused') }, check ? 403 : 400);
    }
    await services.freshProof.recordPasskey(current.session);
    ctx.status = 303;
    ctx.redirect(next);
  });
}
