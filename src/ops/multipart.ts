/**
 * The one image of a `multipart/form-data` body (RFC 7578), for clients that upload a file as a form (curl -F,
 * browsers, requests' `files=`). The whole body is already in memory within http.api.maxBodyBytes, so this
 * splits it by its boundary instead of streaming: the part named `image` or `file`, else the first part that
 * carries a filename or an image content type.
 */

export interface FormFile {
  field: string;
  filename: string | undefined;
  /** The part's Content-Type, lower case without parameters ('' when the part gave none). */
  type: string;
  bytes: Buffer;
}

/** The boundary of a multipart/form-data content type, or null when it has none. */
export function multipartBoundary(contentType: string): string | null {
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2] ?? null) : null;
}

/** Every part of the body; throws with the reason when it is not well-formed multipart. */
export function formParts(body: Buffer, boundary: string): FormFile[] {
  const delimiter = Buffer.from(`--${boundary}`);
  let at = body.indexOf(delimiter);
  if (at < 0) throw new Error(`the body has no multipart boundary '${boundary}'`);
  const parts: FormFile[] = [];
  for (;;) {
    at += delimiter.length;
    if (body.subarray(at, at + 2).toString('latin1') === '--') return parts; // the closing delimiter
    if (body.subarray(at, at + 2).toString('latin1') !== '\r\n') throw new Error('a multipart delimiter is not followed by CRLF');
    const headersEnd = body.indexOf('\r\n\r\n', at + 2);
    if (headersEnd < 0) throw new Error('a multipart part has no end of headers');
    const headers = body.subarray(at + 2, headersEnd).toString('utf8');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headersEnd + 4);
    if (next < 0) throw new Error('the multipart body ends before its closing boundary');
    const disposition = /^content-disposition:\s*form-data(.*)$/im.exec(headers)?.[1] ?? '';
    const field = /;\s*name="([^"]*)"/i.exec(disposition)?.[1] ?? '';
    const filename = /;\s*filename="([^"]*)"/i.exec(disposition)?.[1];
    const type = (/^content-type:\s*([^;\r\n]*)/im.exec(headers)?.[1] ?? '').trim().toLowerCase();
    parts.push({ field, filename, type, bytes: body.subarray(headersEnd + 4, next) });
    at = next + 2;
  }
}

/** The image part of a form: named `image` or `file`, else the first with a filename or an image type; null when none. */
export function formImage(parts: FormFile[]): FormFile | null {
  return parts.find((p) => p.field === 'image' || p.field === 'file') ?? parts.find((p) => p.filename !== undefined || p.type.startsWith('image/')) ?? null;
}
