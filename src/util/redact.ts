/** Credential redaction for anything that reaches a log, a topic, a metric or an error message. */

/** GStreamer element properties that carry credentials (rtspsrc, souphttpsrc): user-id=..., user-pw="...". */
const SECRET_PROPERTY = /\b((?:user|proxy)-(?:id|pw))=("[^"]*"|'[^']*'|[^\s!]+)/gi;
/** An HTTP Authorization header (ffmpeg -headers): everything after the scheme's colon to the line's end. */
const AUTH_HEADER = /\b((?:proxy-)?authorization:)[^\r\n]*/gi;

/** Removes user:password@ from URLs, credential properties and Authorization headers anywhere in a string. */
export function redactCredentials(s: string): string {
  return s
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1***@')
    .replace(SECRET_PROPERTY, '$1=***')
    .replace(AUTH_HEADER, '$1 ***');
}

/** A command line with credentials removed; a token `user-pw=a b` (one argument) loses its whole value. */
export function redactArgs(args: readonly string[]): string[] {
  return args.map((a) => (/^(?:user|proxy)-(?:id|pw)=/i.test(a) ? a.slice(0, a.indexOf('=')) + '=***' : redactCredentials(a)));
}

/** One URL with its credentials removed, or '<invalid url>' when it does not parse. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}
