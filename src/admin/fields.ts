import { z } from 'zod';

/**
 * The fields every administrative front end accepts, checked at its edge with the same rules:
 * the CLI's options, the API's JSON and the console's forms.
 */
/** Text PostgreSQL can store and a person can read: no lone surrogate, no NUL. */
export const isStorableText = (value: string): boolean => value.isWellFormed() && !value.includes('\u0000');

export const fields = {
  id: z.uuid('must be an id (a UUID)'),
  email: z
    .string()
    .trim()
    .max(254, 'must be at most 254 characters')
    .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'must be an email address')
    .refine(isStorableText, 'must be an email address'),
  text: (max: number) =>
    z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`).refine(isStorableText, 'must be text'),
  level: z.enum(['basic', 'higher'], 'must be basic or higher'),
  role: z.enum(['helpdesk', 'school-admin'], 'must be helpdesk or school-admin'),
};
