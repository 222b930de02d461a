/** Credential redaction for anything that reaches a log, a topic, a metric or an error message. */

/** Removes user:password@ from URLs anywhere in a string. */
export function redactCredentials(s: string): string {
  return s.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1***@');
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
