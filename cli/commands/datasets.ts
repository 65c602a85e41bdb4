import { readFile, writeFile } from 'node:fs/promises';
import { NATIVE_FORMAT, registry, type Dataset } from '../../datasets/index.ts';
import { datasetTopicFilter } from '../../functions/core/envelope.ts';
import { GLUE_TYPES } from '../../glue/columns.ts';
import { parse } from '../args.ts';

export const DATASETS_USAGE = `Usage: datastroom datasets [--json | --markdown | --update-doc FILE]

The dataset register: id, title, classification, owner, steward,
personal-data fields, retention per zone, and fields with types and units.
--update-doc FILE rewrites the tables between the datasets:start and
datasets:end, and formats:start and formats:end, markers of a Markdown file
(npm run docs does so for the README).`;

const START = '<!-- datasets:start -->';
const END = '<!-- datasets:end -->';

/** A Markdown document with the register table between its markers replaced by the current one. */
export function withRegisterTable(doc: string): string {
  return between(between(doc, START, END, registerMarkdown()), FORMATS_START, FORMATS_END, formatsMarkdown());
}

const FORMATS_START = '<!-- formats:start -->';
const FORMATS_END = '<!-- formats:end -->';

function between(doc: string, startMarker: string, endMarker: string, text: string): string {
  const start = doc.indexOf(startMarker);
  const end = doc.indexOf(endMarker);
  if (start < 0 || end < start) throw new Error(`no ${startMarker} ... ${endMarker} markers in the document`);
  return `${doc.slice(0, start + startMarker.length)}\n${text}\n${doc.slice(end)}`;
}

/** The formats each dataset accepts, as a Markdown table (the README's copy is this output). */
export function formatsMarkdown(datasets: readonly Dataset[] = registry): string {
  const rows = datasets.map((d) => {
    const formats = [NATIVE_FORMAT, ...(d.formats ?? []).map((f) => f.id)].map((id) => `\`${id}\``).join(', ');
    const models = [...new Set((d.formats ?? []).map((f) => f.title.split(',')[0] ?? f.title))].join('; ');
    return `| \`${d.id}\` | ${formats} | ${models === '' ? 'the platform\'s own JSON only' : models} |`;
  });
  return ['| dataset | formats accepted | from |', '| --- | --- | --- |', ...rows].join('\n');
}

/** The register entry of one dataset, as `datasets --json` prints it. */
export function registerEntry(d: Dataset) {
  return {
    id: d.id,
    title: d.title,
    description: d.description,
    keywords: d.keywords,
    topic: datasetTopicFilter(d.id),
    classification: d.governance.classification,
    owner: d.governance.owner,
    steward: d.governance.steward,
    personalData: d.governance.personalData,
    legalBasis: d.governance.legalBasis,
    licence: d.governance.licence,
    standard: d.governance.standard,
    updateFrequency: d.governance.updateFrequency,
    retention: d.retention,
    fields: d.fields.map((f) => ({
      name: f.name,
      type: GLUE_TYPES[f.kind],
      unit: f.unit ?? null,
      required: f.required,
      personal: f.personal,
      description: f.description ?? null,
    })),
  };
}

function describe(d: Dataset): string {
  const g = d.governance;
  const r = d.retention;
  const fields = d.fields.map((f) => {
    const notes = [f.unit, f.personal ? 'personal data, pseudonymised' : undefined, f.required ? undefined : 'optional'].filter(Boolean);
    return `    ${f.name.padEnd(16)} ${GLUE_TYPES[f.kind].padEnd(10)}${notes.length ? ` ${notes.join('; ')}` : ''}`;
  });
  return [
    `${d.id}  ${d.title}  [${g.classification}]`,
    `  topic           ${datasetTopicFilter(d.id)}`,
    `  owner           ${g.owner}`,
    `  steward         ${g.steward}`,
    `  personal data   ${g.personalData.length ? g.personalData.join(', ') : 'none'}`,
    `  retention       raw ${r.rawDays} d, curated ${r.curatedDays} d, quarantine ${r.quarantineDays} d`,
    `  fields`,
    ...fields,
  ].join('\n');
}

/** The register as a Markdown table: the README's copy is this output, checked by a test. */
export function registerMarkdown(datasets: readonly Dataset[] = registry): string {
  const rows = datasets.map((d) => {
    const g = d.governance;
    const fields = d.fields
      .filter((f) => f.name !== 'ts')
      .map((f) => `${f.name}${f.unit ? ` (${f.unit})` : ''}${f.personal ? ' *personal*' : ''}`)
      .join(', ');
    const r = d.retention;
    return `| \`${d.id}\` | ${d.title} | ${g.classification} | ${g.owner} | ${fields} | ${r.rawDays} / ${r.curatedDays} / ${r.quarantineDays} |`;
  });
  return [
    '| id (table, topic level) | title | classification | owner | fields besides `ts` | retention days raw / curated / quarantine |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

export async function datasetsCommand(argv: readonly string[]): Promise<number> {
  const { values } = parse(
    argv,
    { json: { type: 'boolean', default: false }, markdown: { type: 'boolean', default: false }, 'update-doc': { type: 'string' } },
    false,
  );
  if (values.help) {
    process.stdout.write(`${DATASETS_USAGE}\n`);
    return 0;
  }
  const doc = values['update-doc'];
  if (doc !== undefined) {
    await writeFile(doc, withRegisterTable(await readFile(doc, 'utf8')));
    return 0;
  }
  if (values.json) process.stdout.write(`${JSON.stringify(registry.map(registerEntry), null, 2)}\n`);
  else if (values.markdown) process.stdout.write(`${registerMarkdown()}\n`);
  else process.stdout.write(`${registry.map(describe).join('\n\n')}\n`);
  return 0;
}
