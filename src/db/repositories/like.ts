/** A LIKE pattern matching `text` anywhere, case-insensitively (compare with a lower-cased column): LIKE's own characters match themselves. */
export const containsPattern = (text: string): string => `%${text.toLowerCase().replace(/[\\%_]/g, (character) => `\\${character}`)}%`;
