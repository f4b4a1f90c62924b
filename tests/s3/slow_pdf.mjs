// A crafted slow PDF for get_pdf_text's budget (issue 15): a few KiB whose every page draws
// 10 x 10^levels overlapping glyphs through nested form XObjects (each level draws the one
// below ten times). poppler's text extraction is superlinear in overlapping glyphs: at
// levels = 5 (3 KiB) one page costs minutes of CPU, at 4 about a second.
export function slowPdf(pages, levels) {
  const objects = [];
  const add = (body) => { objects.push(body); return objects.length; };
  const catalog = add(null);
  const pagesObj = add(null);
  const font = add('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>');
  const stream = (dict, content) => `<< ${dict} /Length ${Buffer.byteLength(content)} >>\nstream\n${content}\nendstream`;
  let prev = add(stream(`/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /Font << /F1 ${font} 0 R >> >>`, 'BT /F1 6 Tf 0 0 Td (abcdefghij) Tj ET'));
  for (let l = 0; l < levels; l++) {
    let content = '';
    for (let i = 0; i < 10; i++) {
      const dx = l % 2 === 0 ? 0 : 3 * i;
      const dy = l % 2 === 0 ? -7 * i : 0;
      content += `q 1 0 0 1 ${dx} ${dy} cm /X Do Q\n`;
    }
    prev = add(stream(`/Type /XObject /Subtype /Form /BBox [-1000 -1000 2000 2000] /Resources << /XObject << /X ${prev} 0 R >> >>`, content));
  }
  const contents = add(stream('', `q 1 0 0 1 20 770 cm /X Do Q`));
  const kids = [];
  for (let i = 0; i < pages; i++)
    kids.push(add(`<< /Type /Page /Parent ${pagesObj} 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /X ${prev} 0 R >> >> /Contents ${contents} 0 R >>`));
  objects[catalog - 1] = `<< /Type /Catalog /Pages ${pagesObj} 0 R >>`;
  objects[pagesObj - 1] = `<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(' ')}] /Count ${pages} >>`;
  let out = '%PDF-1.4\n';
  const offsets = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xrefAt = Buffer.byteLength(out);
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root ${catalog} 0 R >>\nstartxref\n${xrefAt}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}
