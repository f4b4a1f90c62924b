// get_pdf_text end to end (issue 7, acceptance 4): PDFs made here with real tools from
// Debian (enscript renders latin1 text to PostScript, ghostscript's ps2pdf makes the PDF,
// qpdf encrypts), stored in s3rver, read through keyhold serve and the verifying proxy:
// text per page with non-ASCII characters, a 200-page PDF paginated under the per-call
// cap, and clear errors for a password-protected, a truncated and a non-PDF object.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { readdirSync } from 'node:fs';

import { run, sleep } from '../e2e/helpers.mjs';
import { S3Env, s3InstanceToml } from './s3_env.mjs';
import { slowPdf } from './slow_pdf.mjs';

// CPU seconds (user + system) used so far by `pid` and every descendant still alive.
function treeCpuSeconds(pid) {
  let ticks = 0;
  const visit = (p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
      for (const task of readdirSync(`/proc/${p}/task`))
        for (const child of readFileSync(`/proc/${p}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) visit(child);
    } catch {
      // the process ended meanwhile
    }
  };
  visit(pid);
  return ticks / 100; // USER_HZ
}

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
    // 3 KiB, minutes of CPU per page; and a cheaper one (about a second per page) of 20 pages.
    await env.put(direct, 'pdfs', 'docs/slow.pdf', slowPdf(3, 5), 'application/pdf');
    await env.put(direct, 'pdfs', 'docs/slowish.pdf', slowPdf(20, 4), 'application/pdf');
    for (const name of ['pdf', 'pdfwall', 'pdfcpu', 'pdfmem', 'pdfslow']) await env.grant(name);
    // resources = false: one instance per bucket may offer the s3://pdfs/ template.
    const budget = (name, limits) => s3InstanceToml(name, env.options({ buckets: ['pdfs'], max_pages_per_call: CAP, resources: false, ...limits }), env.secrets());
    await env.serve(
      s3InstanceToml('pdf', env.options({ buckets: ['pdfs'], max_pages_per_call: CAP }), env.secrets()) +
        budget('pdfwall', { pdf_timeout_ms: 2000, pdf_cpu_seconds: 600 }) +
        budget('pdfcpu', { pdf_timeout_ms: 120000, pdf_cpu_seconds: 1 }) +
        budget('pdfmem', { pdf_timeout_ms: 120000, pdf_cpu_seconds: 600, pdf_memory_bytes: 16 * 1024 * 1024 }) +
        budget('pdfslow', { pdf_timeout_ms: 600000, pdf_cpu_seconds: 600 }),
    );
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

  test('a crafted slow PDF is stopped at the wall-clock limit, with the option named', async () => {
    const started = Date.now();
    const text = await env.refused('pdfwall_get_pdf_text', { bucket: 'pdfs', key: 'docs/slow.pdf' },
      /s3:\/\/pdfs\/docs\/slow\.pdf: text extraction stopped after 2 s \(the pdf_timeout_ms limit\)/);
    assert.ok(Date.now() - started < 6000, `took ${Date.now() - started} ms: ${text}`);
    // The instance is free again, and ordinary PDFs still read under the same budget.
    const r = await env.ok('pdfwall_get_pdf_text', { bucket: 'pdfs', key: 'docs/multi ü.pdf' });
    assert.equal(r.pages[0].text.trim(), MULTI[0]);
  });

  test('a crafted slow PDF is stopped at the CPU-time limit', async () => {
    const started = Date.now();
    await env.refused('pdfcpu_get_pdf_text', { bucket: 'pdfs', key: 'docs/slow.pdf' },
      /text extraction stopped after 1 s of CPU time \(the pdf_cpu_seconds limit\)/);
    assert.ok(Date.now() - started < 15000, `took ${Date.now() - started} ms`);
  });

  test('the memory limit stops an extraction that grows past it', { skip: process.env.KEYHOLD_SANITIZE === '1' && 'RLIMIT_AS is not applied under AddressSanitizer' }, async () => {
    await env.refused('pdfmem_get_pdf_text', { bucket: 'pdfs', key: 'docs/slow.pdf' }, /pdf_memory_bytes limit/);
    await env.ok('pdfmem_get_pdf_text', { bucket: 'pdfs', key: 'docs/multi ü.pdf' });
  });

  test('cancelling get_pdf_text stops the extraction at once: no CPU is spent after it', async () => {
    const controller = new AbortController();
    const pending = env.client.callTool({ name: 'pdfslow_get_pdf_text', arguments: { bucket: 'pdfs', key: 'docs/slowish.pdf' } }, undefined, { signal: controller.signal });
    pending.catch(() => {});
    await sleep(1500); // a page or so in
    controller.abort();
    await assert.rejects(pending);
    await sleep(500);
    const pid = env.conn.transport.pid;
    const before = treeCpuSeconds(pid);
    await sleep(3000);
    const spent = treeCpuSeconds(pid) - before;
    assert.ok(spent < 0.6, `the host and its runners used ${spent.toFixed(2)} s of CPU in the 3 s after the cancellation`);
    // The instance answers again at once.
    const r = await env.ok('pdfslow_get_pdf_text', { bucket: 'pdfs', key: 'docs/multi ü.pdf', max_pages: 1 });
    assert.equal(r.pages.length, 1);
  });

  test('the canary secrets never appear in results, logs, stderr or audit rows', async () => {
    const audit = await env.kh(['vault', 'audit', '--json']);
    env.assertNoLeak([...env.outputs, env.conn.stderr(), audit.stdout].join('\n'), 'pdf run');
  });
});
