import type { Language } from './languages.ts';

/** Every time a person reads is UK time, whatever the server's zone: British Summer Time included. */
export const UK_TIME_ZONE = 'Europe/London';

/** Made on first use: building a format reads ICU's locale and time zone data (about 2.5 MB resident). */
const formats = new Map<string, Intl.DateTimeFormat>();
function formatOf(language: Language, style: 'dateTime' | 'time'): Intl.DateTimeFormat {
  const key = `${language}:${style}`;
  let format = formats.get(key);
  if (!format) {
    const options: Intl.DateTimeFormatOptions =
      style === 'dateTime' ? { dateStyle: 'medium', timeStyle: 'short' } : { hour: '2-digit', minute: '2-digit' };
    format = new Intl.DateTimeFormat(`${language}-GB`, { ...options, timeZone: UK_TIME_ZONE });
    formats.set(key, format);
  }
  return format;
}

/** "26 Nov 2026, 08:47" / "26 Tach 2026, 08:47", in UK time. */
export const formatDateTime = (value: Date, language: Language): string => formatOf(language, 'dateTime').format(value);

/** "08:47", in UK time. */
export const formatTime = (value: Date, language: Language): string => formatOf(language, 'time').format(value);
