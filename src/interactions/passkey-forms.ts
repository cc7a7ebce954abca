import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Account } from '../db/entities/index.ts';
import type { RequestContext } from '../domain/audit.ts';
import { isDomainError } from '../domain/errors.ts';
import { passkeyNameRefusal, passkeyNotCreated, type RegisteredPasskey } from '../domain/passkeys.ts';
import type { Message } from '../i18n/words.ts';
import type { Services } from '../services.ts';

/**
 * What the passkey pages' scripts post, checked at the edge before @simplewebauthn sees it: the
 * browser's answer travels as JSON in one field of an ordinary form (so the CSRF token and the
 * pages' own redirects work as for any form). Shared by sign-in, enrolment and Account settings.
 */

/** Text as PostgreSQL can store it (no NUL), as in schemas.ts. */
const text = () => z.string().refine((value) => !value.includes('\u0000'));

/** The browser's answer, as JSON: a few kilobytes at most. */
const answer = () => text().pipe(z.string().max(12_000)).default('');

/** Creating a passkey: its name and the browser's answer. */
export const namedPasskeyForm = z.object({ name: text().pipe(z.string().max(200)).default(''), response: answer() });

/** Using a passkey at sign-in: the answer, and the login page's "keep me signed in" box. */
export const passkeyForm = z.object({
  response: answer(),
  remember: text()
    .optional()
    .transform((value) => value === 'yes'),
});

/** "Confirm with a passkey": the answer, and where to go back to. */
export const passkeyConfirmForm = z.object({ response: answer(), next: text().pipe(z.string().max(256)).default('') });

/** base64url without padding, as @simplewebauthn/browser sends every binary field. */
const base64url = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9_-]+$/);

const credential = {
  // A credential id is at most 1023 bytes (WebAuthn).
  id: base64url(1400),
  rawId: base64url(1400),
  type: z.literal('public-key'),
  // Unknown fields are dropped, extension results too (none are asked for).
  clientExtensionResults: z.object({}).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
};

/** An attestation 'none' is small (an RSA key makes it a few hundred bytes more). */
const registrationShape = z.object({
  ...credential,
  response: z.object({
    clientDataJSON: base64url(4096),
    attestationObject: base64url(8192),
    transports: z.array(z.string().max(32)).max(8).optional(),
  }),
});

const assertionShape = z.object({
  ...credential,
  response: z.object({
    clientDataJSON: base64url(4096),
    authenticatorData: base64url(4096),
    signature: base64url(1024),
    userHandle: base64url(128).optional(),
  }),
});

function parsed<T>(json: string, shape: z.ZodType): T | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const result = shape.safeParse(value);
  return result.success ? (result.data as T) : undefined;
}

/** The registration in a posted form, or undefined when it is not one (never an exception). */
export const registrationOf = (json: string) => parsed<RegistrationResponseJSON>(json, registrationShape);

/** The assertion in a posted form, or undefined when it is not one (never an exception). */
export const assertionOf = (json: string) => parsed<AuthenticationResponseJSON>(json, assertionShape);

/** Options are read by the page's script, never cached: each holds a single-use challenge. */
export function optionsReply(ctx: Context, body: unknown, status = 200): void {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = body;
}

/** A passkey created from a posted form, or what to say on which field (the name's first: that is what to fix). */
export type Registered = ({ ok: true } & RegisteredPasskey) | { ok: false; field: string; words: Message };

/**
 * Creates the passkey a posted "name + browser's answer" form describes, for Account settings and
 * for enrolment inside a sign-in alike. A refusal in words comes back; anything else is thrown.
 */
export async function registerPostedPasskey(
  passkeys: Services['passkeys'],
  account: Account,
  sessionUid: string,
  form: z.infer<typeof namedPasskeyForm>,
  where: RequestContext,
): Promise<Registered> {
  const response = registrationOf(form.response);
  try {
    if (!response) throw passkeyNameRefusal(form.name) ?? passkeyNotCreated();
    return { ok: true, ...(await passkeys.register(account, sessionUid, response, form.name, where)) };
  } catch (error) {
    if (!isDomainError(error) || error.kind !== 'validation' || !error.words) throw error;
    return { ok: false, field: error.field ?? 'name', words: error.words };
  }
}
