import type { Context } from 'koa';
import { passedSecondFactor } from '../domain/access.ts';
import { notFound } from '../domain/errors.ts';
import type { Passkey } from '../domain/passkeys.ts';
import { forms } from '../http/forms.ts';
import { BAD_FORM } from '../interactions/pages.ts';
import { assertionOf, namedPasskeyForm, optionsReply, passkeyConfirmForm, registerPostedPasskey } from '../interactions/passkey-forms.ts';
import { accountReturnPath, deviceIdParam, parseForm } from '../interactions/schemas.ts';
import { KEYS, type AccountPages } from './security-keys.ts';
import type { SignedInAccount } from './session.ts';

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
      return optionsReply(ctx, { confirm: `/account/confirm?${new URLSearchParams({ next: ADD })}` }, 403);
    }
    optionsReply(ctx, await services.passkeys.registrationOptions(current.account, current.session.sessionUid));
  });

  router.post(ADD, forms, csrf.verify, async (ctx) => {
    const current = (await signedIn(ctx))!;
    const proof = await freshProofOrConfirm(ctx, current, ADD);
    if (!proof) return;
    const form = parseForm(namedPasskeyForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    const registered = await registerPostedPasskey(services.passkeys, current.account, current.session.sessionUid, form, whereOf(ctx));
    if (!registered.ok) return addPage(ctx, { name: form.name, [`${registered.field}Error`]: say(ctx, registered.words) }, 400);
    // A first passkey makes the account one with a second factor: this session proved it just now.
    if (!passedSecondFactor(current.amr)) {
      await parts.recordSecondFactor(ctx, registered.amrOf({ afterPassword: current.amr.includes('pwd') }));
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
    optionsReply(
      ctx,
      await services.passkeys.authenticationOptions({ purpose: 'confirm', binding: current.session.sessionUid }, current.account),
    );
  });

  router.post('/account/confirm/passkey', forms, csrf.verify, async (ctx) => {
    const current = (await signedIn(ctx))!;
    const form = parseForm(passkeyConfirmForm, ctx.request.body);
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
