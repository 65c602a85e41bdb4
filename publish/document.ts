/** A small document model, written as Markdown and as HTML from the same blocks, so both say the same. */

/** One block of a document. Text may hold `code` spans, nothing else. */
export type Block =
  | { readonly heading: string; readonly level: 1 | 2 | 3; readonly id?: string }
  | { readonly paragraph: string }
  | { readonly list: readonly string[] }
  | { readonly table: { readonly head: readonly string[]; readonly rows: readonly (readonly string[])[] } };

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Inline text as HTML: escaped, `code` spans as <code>. */
function inlineHtml(text: string): string {
  return text
    .split('`')
    .map((part, i) => (i % 2 === 1 ? `<code>${escapeHtml(part)}</code>` : escapeHtml(part)))
    .join('');
}

/** Inline text in a Markdown table cell: pipes escaped, line breaks as <br>. */
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, '<br>');

/** The document as Markdown. */
export function markdown(blocks: readonly Block[]): string {
  const parts = blocks.map((b) => {
    if ('heading' in b) return `${'#'.repeat(b.level)} ${b.heading}`;
    if ('paragraph' in b) return b.paragraph;
    if ('list' in b) return b.list.map((item) => `- ${item}`).join('\n');
    return [`| ${b.table.head.map(cell).join(' | ')} |`, `| ${b.table.head.map(() => '---').join(' | ')} |`, ...b.table.rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
  });
  return `${parts.join('\n\n')}\n`;
}

/** The document as a standalone HTML page. */
export function html(blocks: readonly Block[], title: string, lang = 'en'): string {
  const body = blocks.map((b) => {
    if ('heading' in b) return `<h${b.level}${b.id ? ` id="${escapeHtml(b.id)}"` : ''}>${inlineHtml(b.heading)}</h${b.level}>`;
    if ('paragraph' in b) return `<p>${inlineHtml(b.paragraph)}</p>`;
    if ('list' in b) return `<ul>\n${b.list.map((item) => `<li>${inlineHtml(item)}</li>`).join('\n')}\n</ul>`;
    const row = (cells: readonly string[], tag: 'td' | 'th') => `<tr>${cells.map((c) => `<${tag}>${inlineHtml(c).replace(/\n/g, '<br>')}</${tag}>`).join('')}</tr>`;
    return `<table>\n<thead>${row(b.table.head, 'th')}</thead>\n<tbody>\n${b.table.rows.map((r) => row(r, 'td')).join('\n')}\n</tbody>\n</table>`;
  });
  return `<!doctype html>
<html lang="${lang}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:0 auto;max-width:62rem;padding:1rem;color:#1d2733;line-height:1.45}table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.5rem 0 1.5rem}td,th{text-align:left;vertical-align:top;padding:.3rem .5rem;border-bottom:1px solid #e3e8ec}th{background:#f3f6f8}code{font-size:.85em;background:#f3f6f8;padding:0 .2em}</style>
</head>
<body>
${body.join('\n')}
</body>
</html>
`;
}
