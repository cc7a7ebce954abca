import { z } from 'zod';

/** Form input, validated at the edge. Lengths are capped before any hashing or lookup. */
const email = z.string().trim().max(254);
export const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export const loginForm = z.object({
  email: email.default(''),
  password: z.string().max(1024).default(''),
});

export const forgotForm = z.object({ email: email.default('') });

export const resetForm = z.object({
  token: z.string().max(128).default(''),
  password: z.string().max(1024).default(''),
  confirm: z.string().max(1024).default(''),
});

export const resetQuery = z.object({ token: z.string().max(128).default('') });

export const uidParam = z.string().regex(/^[A-Za-z0-9_-]{10,64}$/);

/** Parses a form, mapping anything unparseable (arrays, oversize values) to empty fields. */
export function parseForm<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> | undefined {
  const result = schema.safeParse(body ?? {});
  return result.success ? result.data : undefined;
}

export const codeForm = z.object({ code: z.string().max(32).default('') });

export const enrolForm = z.object({
  enrolment: z.string().max(2048).default(''),
  name: z.string().max(200).default(''),
  code: z.string().max(32).default(''),
});

export const removeDeviceForm = z.object({
  code: z.string().max(32).default(''),
  password: z.string().max(1024).default(''),
});

export const deviceIdParam = z.uuid();

export const schoolForm = z.object({ school: z.string().max(64).default('') });
