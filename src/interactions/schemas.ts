import { z } from 'zod';

/** Form input, validated at the edge. Lengths are capped before any hashing or lookup. */
/** Text as PostgreSQL can store it: no NUL characters (hostile input gets the bad-form page). */
const text = () => z.string().refine((value) => !value.includes('\u0000'));
const email = text().pipe(z.string().trim().max(254));
export const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export const loginForm = z.object({
  email: email.default(''),
  password: text().pipe(z.string().max(1024)).default(''),
  // "Keep me signed in on this device": a ticked box sends "yes"; anything else is no.
  remember: text()
    .optional()
    .transform((value) => value === 'yes'),
});

export const forgotForm = z.object({ email: email.default('') });

export const resetForm = z.object({
  token: text().pipe(z.string().max(128)).default(''),
  password: text().pipe(z.string().max(1024)).default(''),
  confirm: text().pipe(z.string().max(1024)).default(''),
});

export const resetQuery = z.object({ token: z.string().max(128).default('') });

export const uidParam = z.string().regex(/^[A-Za-z0-9_-]{10,64}$/);
/** A client id as Gatehouse issues them (and the console accepts): anything else names no client. */
export const clientIdParam = z.string().regex(/^[\w.~-]{1,200}$/);

/** Parses a form, mapping anything unparseable (arrays, oversize values) to empty fields. */
export function parseForm<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> | undefined {
  const result = schema.safeParse(body ?? {});
  return result.success ? result.data : undefined;
}

export const codeForm = z.object({ code: text().pipe(z.string().max(32)).default('') });

export const enrolForm = z.object({
  enrolment: text().pipe(z.string().max(2048)).default(''),
  name: text().pipe(z.string().max(200)).default(''),
  code: text().pipe(z.string().max(32)).default(''),
});

/** "Confirm it's you": the password, a code when the account has a device, where to go back to. */
export const confirmForm = z.object({
  password: text().pipe(z.string().max(1024)).default(''),
  code: text().pipe(z.string().max(32)).default(''),
  next: text().pipe(z.string().max(256)).default(''),
});

/** Where "confirm it's you" may send the browser back to: an /account page, nothing else. */
export const accountReturnPath = z
  .string()
  .max(256)
  .regex(/^\/account\/[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-]+)*$/);

export const deviceIdParam = z.uuid();

export const schoolForm = z.object({ school: text().pipe(z.string().max(64)).default('') });
