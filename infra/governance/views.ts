/**
 * The view check, on the synthesized template: each Glue view must be what
 * Athena itself stores for a view (a Presto View document, a storage
 * descriptor with SerdeInfo), its SQL must parse as Trino SQL (dt-sql-parser's
 * Trino grammar) over a table of the same database, and the columns it
 * declares, in the document and in Glue, must be the ones the SQL yields,
 * with the types Trino gives them.
 */
import { TrinoSQL } from 'dt-sql-parser';
import {
  AliasedRelationContext,
  AtTimeZoneContext,
  CastContext,
  ColumnReferenceContext,
  FunctionCallContext,
  IntegerLiteralContext,
  QuerySpecificationContext,
  SelectItemContext,
  StringLiteralContext,
  TableNameContext,
} from 'dt-sql-parser/dist/lib/trino/TrinoSqlParser.js';
import { ParserRuleContext } from 'antlr4ng';
import { ATHENA_CATALOG, PRESTO_VIEW_TEXT } from '../../glue/tables.ts';
import { describeResource, render, TemplateCheckPlugin, type Finding, type Template, type TemplateResource } from './template.ts';

/** Name of the plugin, the prefix of its rules' acknowledgement ids. */
export const VIEWS_PLUGIN = 'datastroom-views';

/** The rules. */
export const VIEW_RULES = {
  document: 'view-document',
  storage: 'view-storage-descriptor',
  sql: 'view-sql',
  columns: 'view-columns',
} as const;

interface GlueColumn {
  readonly Name: string;
  readonly Type: string;
}

interface TableInput {
  readonly Name?: string;
  readonly TableType?: string;
  readonly Parameters?: Record<string, string>;
  readonly PartitionKeys?: GlueColumn[];
  readonly StorageDescriptor?: { Columns?: GlueColumn[]; SerdeInfo?: unknown };
  readonly ViewOriginalText?: string;
  readonly ViewExpandedText?: string;
}

/** A column as Trino sees it. */
export interface TypedColumn {
  readonly name: string;
  readonly type: string;
}

const HIVE_TO_TRINO: Readonly<Record<string, string>> = { string: 'varchar', timestamp: 'timestamp(3)', int: 'integer' };
const trinoType = (hive: string) => HIVE_TO_TRINO[hive] ?? hive;

const unquote = (identifier: string) => (/^".*"$/s.test(identifier) ? identifier.slice(1, -1).replace(/""/g, '"') : identifier.toLowerCase());

function descendants<T>(node: ParserRuleContext, type: abstract new (...args: never[]) => T): T[] {
  const found: T[] = [];
  const visit = (n: ParserRuleContext) => {
    if (n instanceof type) found.push(n);
    for (const child of n.children ?? []) if (child instanceof ParserRuleContext) visit(child);
  };
  visit(node);
  return found;
}

/** The innermost node an expression reduces to through single-child wrappers (predicate, value expression, ...). */
function core(node: ParserRuleContext): ParserRuleContext {
  let current = node;
  for (;;) {
    if (
      current instanceof FunctionCallContext ||
      current instanceof ColumnReferenceContext ||
      current instanceof StringLiteralContext ||
      current instanceof CastContext ||
      current instanceof AtTimeZoneContext ||
      current instanceof IntegerLiteralContext
    ) {
      return current;
    }
    const children = current.children ?? [];
    const rules = children.filter((c): c is ParserRuleContext => c instanceof ParserRuleContext);
    const [only] = rules;
    if (children.length !== 1 || rules.length !== 1 || !only) return current;
    current = only;
  }
}

/** The aggregate and scalar functions the platform's views use, with the type each yields in Trino. */
const FUNCTION_TYPES: Readonly<Record<string, (args: string[]) => string | undefined>> = {
  count: () => 'bigint',
  avg: (a) => (a[0] === 'bigint' || a[0] === 'double' || a[0] === 'integer' ? 'double' : undefined),
  sum: (a) => (a[0] === 'bigint' || a[0] === 'integer' ? 'bigint' : a[0] === 'double' ? 'double' : undefined),
  min: (a) => a[0],
  max: (a) => a[0],
  date_trunc: (a) => (a[0] === 'varchar' ? a[1] : undefined),
  round: (a) => (a[0] === 'double' && (a[1] === undefined || a[1] === 'integer') ? 'double' : undefined),
  from_iso8601_timestamp: (a) => (a[0] === 'varchar' ? 'timestamp(3) with time zone' : undefined),
};

/** The Trino type a CAST names (timestamp without precision is timestamp(3)). */
const CAST_TYPES: Readonly<Record<string, string>> = { timestamp: 'timestamp(3)', date: 'date', double: 'double', bigint: 'bigint', varchar: 'varchar' };

function typeOf(node: ParserRuleContext, source: ReadonlyMap<string, string>): string {
  const expression = core(node);
  if (expression instanceof ColumnReferenceContext) {
    const name = columnKey(expression.columnName().getText());
    const type = source.get(name);
    if (type === undefined) throw new Error(`column ${name} is not in the table it reads (or, in a join, is in several: name its table)`);
    return type;
  }
  if (expression instanceof StringLiteralContext) return 'varchar';
  if (expression instanceof IntegerLiteralContext) return 'integer';
  if (expression instanceof CastContext) {
    typeOf(expression.expression(), source);
    const target = CAST_TYPES[expression.type().getText().toLowerCase()];
    if (target === undefined) throw new Error(`cannot tell the type of ${expression.getText()}: a cast to a type the check knows`);
    return target;
  }
  if (expression instanceof AtTimeZoneContext) {
    const base = typeOf(expression.valueExpression(), source);
    if (!base.startsWith('timestamp')) throw new Error(`${expression.getText()}: AT TIME ZONE of ${base}`);
    return base.endsWith('with time zone') ? base : `${base} with time zone`;
  }
  if (expression instanceof FunctionCallContext) {
    const name = expression.functionName().getText().toLowerCase();
    const infer = FUNCTION_TYPES[name];
    if (!infer) throw new Error(`cannot tell the type of ${expression.getText()}: ${name} is not a function the check knows`);
    const args = expression.ASTERISK() ? [] : expression.expression().map((e) => typeOf(e, source));
    const type = infer(args);
    if (type === undefined) throw new Error(`${name}(${args.join(', ')}) has no type the check knows`);
    return type;
  }
  throw new Error(`cannot tell the type of ${node.getText()}`);
}

/**
 * The columns a view's SQL yields, typed by Trino's rules from the table it
 * reads. Throws, with what is wrong, for SQL that does not parse as Trino or
 * that the check cannot type.
 */
export function viewSqlColumns(sql: string, tables: ReadonlyMap<string, readonly TypedColumn[]>): { table: string; columns: TypedColumn[] } {
  const parser = new TrinoSQL();
  const errors = parser.validate(sql);
  const [e] = errors;
  if (e) {
    throw new Error(`not Trino SQL: line ${e.startLine}, column ${e.startColumn}: ${e.message}`);
  }
  const tree = parser.parse(sql);
  const queries = descendants(tree, QuerySpecificationContext);
  const [query] = queries;
  if (queries.length !== 1 || !query) throw new Error(`expected one SELECT, found ${queries.length}`);
  // Each table read, under its own name and its alias: a join's columns are named table.column or alias.column.
  const relations = descendants(query, AliasedRelationContext).map((r) => {
    const names = descendants(r, TableNameContext);
    if (names.length !== 1) throw new Error(`${r.getText()}: a view reads tables, not subqueries`);
    const table = unquote(names[0]?.getText() ?? '');
    const alias = r.identifier();
    return { table, qualifiers: [table, ...(alias ? [unquote(alias.getText())] : [])] };
  });
  const [first] = relations;
  if (!first) throw new Error('expected a table in FROM, found none');
  const source = new Map<string, string>();
  const unqualified = new Map<string, string[]>();
  for (const { table, qualifiers } of relations) {
    const sourceColumns = tables.get(table);
    if (!sourceColumns) throw new Error(`reads ${table}, which is no table of its database`);
    for (const c of sourceColumns) {
      for (const q of qualifiers) source.set(`${q}.${c.name}`, c.type);
      unqualified.set(c.name, [...(unqualified.get(c.name) ?? []), c.type]);
    }
  }
  // A bare column name is taken only when exactly one of the tables has it, as Trino does.
  for (const [name, types] of unqualified) if (types.length === 1) source.set(name, types[0] as string);
  const columns = query
    .selectList()
    .selectItem()
    .map((item: SelectItemContext) => {
      const literal = item.selectLiteralColumnName();
      const expression = item.selectExpressionColumnName();
      if (literal) {
        const name = columnKey(literal.getText());
        const type = source.get(name);
        if (type === undefined) throw new Error(`column ${name} is not in ${relations.map((r) => r.table).join(' or ')}${relations.length > 1 ? ', or is in several: name its table' : ''}`);
        const alias = item.identifier();
        return { name: alias ? unquote(alias.getText()) : (name.split('.').at(-1) ?? name), type };
      }
      if (!expression) throw new Error(`${item.getText()}: a view lists its columns, it does not select *`);
      const alias = item.identifier();
      if (!alias) throw new Error(`${item.getText()} has no name: give it AS "name"`);
      return { name: unquote(alias.getText()), type: typeOf(expression.expression(), source) };
    });
  return { table: first.table, columns };
}

/** A column reference as a key of the source: column, or qualifier.column. */
function columnKey(text: string): string {
  const parts = text.match(/"(?:[^"]|"")*"|[^."]+/g) ?? [text];
  return parts.map(unquote).join('.');
}

interface DecodedView {
  readonly originalSql: string;
  readonly catalog?: unknown;
  readonly schema?: unknown;
  readonly columns?: unknown;
  readonly runAsInvoker?: unknown;
}

function decodeDocument(text: string | undefined): DecodedView | string {
  if (text === undefined || !text.startsWith(PRESTO_VIEW_TEXT.prefix) || !text.endsWith(PRESTO_VIEW_TEXT.suffix)) {
    return `ViewOriginalText is not "${PRESTO_VIEW_TEXT.prefix}<base64>${PRESTO_VIEW_TEXT.suffix}"`;
  }
  try {
    const json = Buffer.from(text.slice(PRESTO_VIEW_TEXT.prefix.length, -PRESTO_VIEW_TEXT.suffix.length), 'base64').toString('utf8');
    const document = JSON.parse(json) as DecodedView;
    return typeof document.originalSql === 'string' ? document : 'the Presto View document has no originalSql';
  } catch (error) {
    return `the Presto View document is not base64 JSON: ${String(error)}`;
  }
}

function tablesOf(template: Template): Map<string, { id: string; database: string | undefined; input: TableInput }> {
  const tables = new Map<string, { id: string; database: string | undefined; input: TableInput }>();
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Glue::Table') continue;
    const input = (resource.Properties?.TableInput ?? {}) as TableInput;
    if (input.Name) tables.set(`${render(resource.Properties?.DatabaseName)}/${input.Name}`, { id, database: render(resource.Properties?.DatabaseName), input });
  }
  return tables;
}

function viewFindings(template: Template, id: string, resource: TemplateResource, tables: ReturnType<typeof tablesOf>): Finding[] {
  const input = (resource.Properties?.TableInput ?? {}) as TableInput;
  const database = render(resource.Properties?.DatabaseName);
  const view = `view ${input.Name} ${describeResource(template, id)}`;
  const finding = (rule: string, message: string, fix: string): Finding => ({ rule, logicalId: id, message: `${view}: ${message}`, fix });
  const findings: Finding[] = [];

  if (input.Parameters?.presto_view !== 'true' || input.ViewExpandedText !== PRESTO_VIEW_TEXT.expanded) {
    findings.push(finding(VIEW_RULES.document, 'Athena does not read it as a view', `set Parameters.presto_view "true" and ViewExpandedText "${PRESTO_VIEW_TEXT.expanded}"`));
  }
  const descriptor = input.StorageDescriptor;
  if (typeof descriptor?.SerdeInfo !== 'object' || descriptor.SerdeInfo === null || !Array.isArray(descriptor.Columns)) {
    findings.push(
      finding(VIEW_RULES.storage, 'its storage descriptor has no SerdeInfo or no columns: Athena engine v3 answers "Table storage descriptor is missing SerDe info"', 'give the storage descriptor SerdeInfo {} and the view\'s columns, as Athena\'s CREATE VIEW does'),
    );
  }
  const document = decodeDocument(input.ViewOriginalText);
  if (typeof document === 'string') return [...findings, finding(VIEW_RULES.document, document, 'encode the view as Athena does')];
  if (document.catalog !== ATHENA_CATALOG || document.schema !== database || document.runAsInvoker !== false) {
    findings.push(
      finding(VIEW_RULES.document, `its document names catalog ${String(document.catalog)} and schema ${String(document.schema)}, runAsInvoker ${String(document.runAsInvoker)}`, `name catalog ${ATHENA_CATALOG}, schema ${database}, runAsInvoker false`),
    );
  }

  let yielded: { table: string; columns: TypedColumn[] };
  try {
    const siblings = new Map(
      [...tables.values()]
        .filter((t) => t.database === database && t.input.TableType !== 'VIRTUAL_VIEW')
        .map((t) => [t.input.Name ?? '', [...(t.input.StorageDescriptor?.Columns ?? []), ...(t.input.PartitionKeys ?? [])].map((c) => ({ name: c.Name, type: trinoType(c.Type) }))]),
    );
    yielded = viewSqlColumns(document.originalSql, siblings);
  } catch (error) {
    return [...findings, finding(VIEW_RULES.sql, error instanceof Error ? error.message : String(error), 'fix the view\'s SQL in glue/views.ts')];
  }

  const declared = Array.isArray(document.columns) ? (document.columns as TypedColumn[]).map((c) => `${c.name} ${c.type}`) : [];
  const actual = yielded.columns.map((c) => `${c.name} ${c.type}`);
  if (declared.join(', ') !== actual.join(', ')) {
    findings.push(finding(VIEW_RULES.columns, `its document declares (${declared.join(', ')}) but the SQL yields (${actual.join(', ')})`, 'derive the declared columns from the same registry fields as the SQL'));
  }
  const glue = (descriptor?.Columns ?? []).map((c) => `${c.Name} ${trinoType(c.Type)}`);
  if (glue.join(', ') !== actual.join(', ')) {
    findings.push(finding(VIEW_RULES.columns, `its Glue columns are (${glue.join(', ')}) in Trino's types, but the SQL yields (${actual.join(', ')})`, 'derive the Glue columns from the same registry fields as the SQL'));
  }
  return findings;
}

/** The view check of one template. */
export function viewFindingsOf(template: Template): Finding[] {
  const tables = tablesOf(template);
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::Glue::Table' && (r.Properties?.TableInput as TableInput | undefined)?.TableType === 'VIRTUAL_VIEW')
    .flatMap(([id, r]) => viewFindings(template, id, r, tables));
}

/** The view check as a synth-time validation plugin. */
export class ViewValidator extends TemplateCheckPlugin {
  constructor() {
    super(VIEWS_PLUGIN, [viewFindingsOf], Object.values(VIEW_RULES));
  }
}
