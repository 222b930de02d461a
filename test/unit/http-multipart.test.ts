import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formImage, formParts, multipartBoundary } from '../../src/ops/multipart.js';

const CRLF = '\r\n';
const body = (boundary: string, parts: Array<{ headers: string[]; data: Buffer | string }>, close = true): Buffer =>
  Buffer.concat([
    ...parts.flatMap((p) => [Buffer.from(`--${boundary}${CRLF}${p.headers.join(CRLF)}${CRLF}${CRLF}`), Buffer.from(p.data), Buffer.from(CRLF)]),
    Buffer.from(close ? `--${boundary}--${CRLF}` : ''),
  ]);

test('multipart: the boundary from the content type, quoted or not; none is null', () => {
  assert.equal(multipartBoundary('multipart/form-data; boundary=----abc123'), '----abc123');
  assert.equal(multipartBoundary('multipart/form-data; charset=utf-8; boundary="a b:c"'), 'a b:c');
  assert.equal(multipartBoundary('multipart/form-data'), null);
});

test('multipart: parts keep their bytes exactly (CRLF and the boundary text inside a file are data); the image part is found by name, then by filename or type', () => {
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x2d, 0x2d, 0x58, 0x0d, 0x0a]);
  const b = 'XyZ';
  const parts = formParts(
    body(b, [
      { headers: ['Content-Disposition: form-data; name="note"'], data: 'hello' },
      { headers: ['Content-Disposition: form-data; name="upload"; filename="p.png"', 'Content-Type: image/png'], data: png },
    ]),
    b,
  );
  assert.deepEqual(
    parts.map((p) => [p.field, p.filename, p.type]),
    [
      ['note', undefined, ''],
      ['upload', 'p.png', 'image/png'],
    ],
  );
  assert.deepEqual(parts[1].bytes, png);
  assert.equal(formImage(parts)?.field, 'upload', 'no field named image/file: the first with a filename');
  const named = formParts(
    body(b, [
      { headers: ['Content-Disposition: form-data; name="other"; filename="a.jpg"'], data: 'a' },
      { headers: ['Content-Disposition: form-data; name="image"'], data: 'b' },
    ]),
    b,
  );
  assert.equal(formImage(named)?.bytes.toString(), 'b', 'a field named image wins');
  assert.equal(formImage(formParts(body(b, [{ headers: ['Content-Disposition: form-data; name="x"'], data: 'text' }]), b)), null);
});

test('multipart: a body without its boundary, without the closing delimiter or without the end of a part header is refused with the reason', () => {
  assert.throws(() => formParts(Buffer.from('no boundary here'), 'b1'), /no multipart boundary 'b1'/);
  assert.throws(() => formParts(body('b1', [{ headers: ['Content-Disposition: form-data; name="image"'], data: 'x' }], false), 'b1'), /ends before its closing boundary/);
  assert.throws(() => formParts(Buffer.from('--b1\r\nContent-Disposition: form-data; name="image"'), 'b1'), /no end of headers/);
});
