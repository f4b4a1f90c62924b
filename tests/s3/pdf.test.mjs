// get_pdf_text end to end (issue 7, acceptance 4): PDFs made here with real tools from
// Debian (enscript renders latin1 text to PostScript, ghostscript's ps2pdf makes the PDF,
// qpdf encrypts), stored in s3rver, read through keyhold serve and the verifying proxy:
// text per page with non-ASCII characters, a 200-page PDF paginated under the per-call
// cap, and clear errors for a password-protected, a truncated and a non-PDF object.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { run } from '../e2e/helpers.mjs';
import { S3Env, s3InstanceToml } from './s3_env.mjs';

const CAP = 50; // max_pages_per_call of the instance

// Renders latin1 text (pages split by form feeds) to a PDF with enscript + ps2pdf.
async function makePdf(dir, name, latin1Text) {
  const txt = path.join(dir, `${name}.txt`);
  const ps = path.join(dir, `${name}.ps`);
  const pdf = path.join(dir, `${name}.pdf`);
  writeFileSync(txt, Buffer.from(latin1Text, 'latin1'));
  const e = await run('enscript', ['-q', '-B', '-X', 'latin1', '-o', ps, txt]);
  assert.equal(e.code, 0, `enscript: ${e.stderr}`);
  const g = await run('ps2pdf', [ps, pdf]);
  assert.equal(g.code, 0, `ps2pdf: ${g.stderr}`);
  return pdf;
}

const MULTI = [
  'Seite eins: Grüße aus Köln, café à la crème',
  'Page two: Æsir Øresund ångström § ½',
  'Page three: señor niño ¿qué? «déjà vu»',
];

describe('s3 connector: get_pdf_text on PDFs made with enscript, ps2pdf and qpdf', () => {
  const env = new S3Env({ buckets: ['pdfs'], label: 'keyhold-s3-pdf-' });

  before(async () => {
    await env.start();
    const dir = env.sandbox.dir;
    const multi = await makePdf(dir, 'multi', MULTI.join('\n\f') + '\n');
    let many = '';
    for (let i = 1; i <= 200; i++) many += `Page ${i} marker-${String(i).padStart(5, '0')}\n\f`;
    const big = await makePdf(dir, 'many', many);
    const encrypted = path.join(dir, 'encrypted.pdf');
    const q = await run('qpdf', ['--encrypt', 'user-pw', 'owner-pw', '256', '--', multi, encrypted]);
    assert.equal(q.code, 0, `qpdf: ${q.stderr}`);
    const bigBytes = readFileSync(big);
    const direct = env.directClient();
    await env.put(direct, 'pdfs', 'docs/multi ü.pdf', readFileSync(multi), 'application/pdf');
    await env.put(direct, 'pdfs', 'docs/200.pdf', bigBytes, 'application/pdf');
    await env.put(direct, 'pdfs', 'docs/encrypted.pdf', readFileSync(encrypted), 'application/pdf');
    await env.put(direct, 'pdfs', 'docs/truncated.pdf', bigBytes.subarray(0, Math.floor(bigBytes.length / 2)), 'application/pdf');
    await env.put(direct, 'pdfs', 'docs/not-a.pdf', 'just some text, no PDF', 'text/plain');
    await env.grant('pdf');
    await env.serve(s3InstanceToml('pdf', env.options({ buckets: ['pdfs'], max_pages_per_call: CAP }), env.secrets()));
  });

  after(async () => {
    await env.stop();
    assert.equal(env.sanitizerReport, null, 'keyhold serve reported a sanitizer finding');
  });

  test('a multi-page PDF with non-ASCII latin1 text comes back page by page', async () => {
    const r = await env.ok('pdf_get_pdf_text', { bucket: 'pdfs', key: 'docs/multi ü.pdf' });
    assert.equal(r.total_pages, 3);
    assert.equal(r.first_page, 1);
    assert.equal(r.next_page, null);
    assert.deepEqual(r.pages.map((p) => p.page), [1, 2, 3]);
    for (let i = 0; i < 3; i++) assert.equal(r.pages[i].text.trim(), MULTI[i], `page ${i + 1}`);
    const one = await env.ok('pdf_get_pdf_text', { bucket: 'pdfs', key: 'docs/multi ü.pdf', first_page: 2, max_pages: 1 });
    assert.deepEqual(one.pages.map((p) => p.page), [2]);
    assert.equal(one.next_page, 3);
  });

  test(`a 200-page PDF is paginated ${CAP} pages per call, next_page leading to the end`, async () => {
    const seen = [];
    let first = 1;
    let calls = 0;
    while (first !== null) {
      const r = await env.ok('pdf_get_pdf_text', { bucket: 'pdfs', key: 'docs/200.pdf', first_page: first });
      assert.equal(r.total_pages, 200);
      assert.equal(r.first_page, first);
      assert.ok(r.pages.length <= CAP);
      seen.push(...r.pages);
      first = r.next_page;
      calls += 1;
      assert.ok(calls <= 5, 'pagination terminates');
    }
    assert.equal(calls, 4);
    assert.equal(seen.length, 200);
    seen.forEach((p, i) => {
      assert.equal(p.page, i + 1);
      assert.match(p.text, new RegExp(`Page ${i + 1} marker-${String(i + 1).padStart(5, '0')}`));
    });
    await env.refused('pdf_get_pdf_text', { bucket: 'pdfs', key: 'docs/200.pdf', first_page: 201 }, /page 201 is beyond the last page \(200\)/);
  });

  test('a password-protected PDF (qpdf) is a clear error', async () => {
    await env.refused('pdf_get_pdf_text', { bucket: 'pdfs', key: 'docs/encrypted.pdf' }, /s3:\/\/pdfs\/docs\/encrypted\.pdf: the PDF is password-protected/);
  });

  test('a truncated PDF and a non-PDF object are clear errors', async () => {
    await env.refused('pdf_get_pdf_text', { bucket: 'pdfs', key: 'docs/truncated.pdf' }, /the PDF is damaged and cannot be read/);
    await env.refused('pdf_get_pdf_text', { bucket: 'pdfs', key: 'docs/not-a.pdf' }, /the object is not a PDF/);
    await env.refused('pdf_get_pdf_text', { bucket: 'pdfs', key: 'docs/missing.pdf' }, /no such object/);
  });

  test('the canary secrets never appear in results, logs, stderr or audit rows', async () => {
    const audit = await env.kh(['vault', 'audit', '--json']);
    env.assertNoLeak([...env.outputs, env.conn.stderr(), audit.stdout].join('\n'), 'pdf run');
  });
});
