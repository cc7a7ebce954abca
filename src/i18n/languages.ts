/** The languages of every page and mail (DESIGN.md "Language and branding"). English first: the fallback. */
export const LANGUAGES = ['en', 'cy'] as const;
export type Language = (typeof LANGUAGES)[number];
export const DEFAULT_LANGUAGE: Language = 'en';

export const isLanguage = (value: unknown): value is Language =>
  typeof value === 'string' && (LANGUAGES as readonly string[]).includes(value);

/**
 * The first language of a BCP 47 preference list (`ui_locales`, space separated) that Gatehouse
 * speaks: `cy-GB` is Welsh, `en-US` is English; tags it does not speak are passed over.
 */
export function languageOfTags(tags: unknown): Language | undefined {
  if (typeof tags !== 'string') return undefined;
  for (const tag of tags.trim().split(/\s+/).slice(0, 20)) {
    const primary = tag.split('-')[0]?.toLowerCase();
    if (isLanguage(primary)) return primary;
  }
  return undefined;
}
