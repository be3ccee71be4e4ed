/** Strip NUL (PostgreSQL text/jsonb reject it) and cap the length of a string kept in a flag. */
export function cleanText(s: string, max = 512): string {
  // eslint-disable-next-line no-control-regex
  const t = s.indexOf('\u0000') >= 0 ? s.replace(/\u0000/g, '') : s;
  return t.length > max ? t.slice(0, max) : t;
}
