import { registry, type Dataset } from '../../datasets/index.ts';
import { datasetTopicFilter } from '../../functions/core/envelope.ts';
import { GLUE_TYPES } from '../../glue/columns.ts';
import { parse } from '../args.ts';

export const DATASETS_USAGE = `Usage: datastroom datasets [--json] [--data-dir DIR]

The dataset register: id, title, classification, owner, steward,
personal-data fields, retention per zone, and fields with types and units.`;

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

export function datasetsCommand(argv: readonly string[]): number {
  const { values } = parse(argv, { json: { type: 'boolean', default: false } }, false);
  if (values.help) {
    process.stdout.write(`${DATASETS_USAGE}\n`);
    return 0;
  }
  process.stdout.write(values.json ? `${JSON.stringify(registry.map(registerEntry), null, 2)}\n` : `${registry.map(describe).join('\n\n')}\n`);
  return 0;
}
