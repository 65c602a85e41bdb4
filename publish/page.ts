/** The portal's static page: the open datasets, their licence and their files, in Dutch first. */
import type { DatasetFacts, DistributionFile } from './catalog.ts';

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const size = (bytes: number) => (bytes < 1024 ? `${bytes} B` : bytes < 1_048_576 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1_048_576).toFixed(1)} MB`);

/** What a file holds, in Dutch, and how many rows. */
function what(file: DistributionFile): [string, string] {
  switch (file.content.kind) {
    case 'day':
      return [file.content.day, String(file.content.rows)];
    case 'places':
      return ['plaatsen van de sensoren', String(file.content.rows)];
    case 'views':
      return ['SQL-views (DuckDB)', ''];
  }
}

/** The page listing every open dataset and its distributions. */
export function portalPage(facts: readonly DatasetFacts[], options: { publisher: string; generated: Date; dashboard: boolean }): string {
  const sections = facts.map(({ dataset, files, temporal }) => {
    const g = dataset.governance;
    const rows = files
      .map((f) => {
        const [content, count] = what(f);
        return `<tr><td>${escape(content)}</td><td><a href="${escape(f.path)}">${escape(f.path.split('/').at(-1) ?? f.path)}</a></td><td>${f.format}</td><td>${count}</td><td>${size(f.bytes)}</td></tr>`;
      })
      .join('\n');
    return `<section id="${dataset.id}">
<h2>${escape(dataset.nl.title)} <small lang="en">${escape(dataset.title)}</small></h2>
<p>${escape(dataset.nl.description)}<br><span lang="en">${escape(dataset.description)}</span></p>
<p>Eigenaar: ${escape(g.owner)} · contact: <a href="mailto:${escape(g.steward)}">${escape(g.steward)}</a> · licentie: ${escape(g.licence)} · bijgewerkt: ${escape(g.updateFrequency)}${
      temporal ? ` · periode: ${escape(temporal.start)} tot ${escape(temporal.end)}` : ''
    }</p>
<table><thead><tr><th>inhoud</th><th>bestand</th><th>formaat</th><th>rijen</th><th>grootte</th></tr></thead><tbody>
${rows}
</tbody></table>
</section>`;
  });
  return `<!doctype html>
<html lang="nl">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Open data: ${escape(options.publisher)}</title>
<link rel="alternate" type="text/turtle" href="catalog.ttl"><link rel="alternate" type="application/ld+json" href="catalog.jsonld">
<style>body{font-family:system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#1d2733}table{border-collapse:collapse;width:100%;font-size:.85rem}td,th{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #e3e8ec}small{font-weight:normal;color:#5b6b7a}</style>
</head>
<body>
<h1>Open data van ${escape(options.publisher)} <small lang="en">open data</small></h1>
<p>Catalogus (DCAT-AP Vlaanderen): <a href="catalog.ttl">Turtle</a> · <a href="catalog.jsonld">JSON-LD</a>${options.dashboard ? ' · <a href="dashboard/">dashboard</a>' : ''} · gegenereerd ${escape(options.generated.toISOString())}</p>
${sections.join('\n')}
</body>
</html>
`;
}
