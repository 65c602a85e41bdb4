/**
 * Reading a synthesized CloudFormation template, for the checks that judge
 * what AWS will be asked to create rather than how the constructs were
 * written: intrinsic functions rendered to text, IAM-style wildcards, and a
 * policy-validation plugin that runs such a check on every template at synth.
 */
import { readFileSync } from 'node:fs';
import { CfnElement, type IPolicyValidationContext, type IPolicyValidationPlugin, type PolicyValidationPluginReport, type PolicyViolation } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** One resource of a template. */
export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly DeletionPolicy?: string;
  readonly Metadata?: Record<string, unknown>;
}

/** The part of a template the checks read. */
export interface Template {
  readonly Resources: Record<string, TemplateResource>;
  /** Construct paths by logical id, when known, to name resources by. */
  readonly paths?: ReadonlyMap<string, string>;
}

/** What a check finds wrong with one resource. */
export interface Finding {
  /** The rule; acknowledged as `<plugin name>::<rule>`. */
  readonly rule: string;
  readonly logicalId: string;
  /** What is wrong, naming the resource. */
  readonly message: string;
  /** What to change. */
  readonly fix: string;
}

/** A check of a whole template. */
export type TemplateCheck = (template: Template) => Finding[];

/**
 * A value as text, intrinsic functions rendered as `${Ref}` and
 * `${LogicalId.Attribute}` placeholders (the form Fn::Sub uses), so that
 * `logs.${AWS::Region}.amazonaws.com` reads the same however it was built.
 * Undefined for what cannot be rendered (a condition, a lookup).
 */
export function render(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const entries = Object.entries(value);
  const [entry] = entries;
  if (entries.length !== 1 || !entry) return undefined;
  const [fn, arg] = entry;
  if (fn === 'Ref' && typeof arg === 'string') return `\${${arg}}`;
  if (fn === 'Fn::GetAtt' && Array.isArray(arg) && arg.length === 2) return `\${${String(arg[0])}.${String(arg[1])}}`;
  if (fn === 'Fn::Join' && Array.isArray(arg) && typeof arg[0] === 'string' && Array.isArray(arg[1])) {
    const parts = (arg[1] as unknown[]).map(render);
    return parts.every((p) => p !== undefined) ? parts.join(arg[0]) : undefined;
  }
  if (fn === 'Fn::Sub' && typeof arg === 'string') return arg;
  return undefined;
}

/** IAM's *Like matching: `*` any run of characters, `?` one character. */
export function globMatch(pattern: string, value: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 's').test(value);
}

/** Whether a value is, or holds anywhere inside it, a reference to the resource. */
export function refersTo(value: unknown, logicalId: string): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some((v) => refersTo(v, logicalId));
  const record = value as Record<string, unknown>;
  if (record.Ref === logicalId) return true;
  const getAtt = record['Fn::GetAtt'];
  if (Array.isArray(getAtt) && getAtt[0] === logicalId) return true;
  return Object.values(record).some((v) => refersTo(v, logicalId));
}

/** A resource as a person finds it: its construct path and logical id. */
export function describeResource(template: Template, logicalId: string): string {
  const path = template.paths?.get(logicalId) ?? template.Resources[logicalId]?.Metadata?.['aws:cdk:path'];
  return typeof path === 'string' ? `${path} (${logicalId})` : logicalId;
}

/** Reads a synthesized template. */
export function readTemplate(path: string): Template {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as { Resources?: Record<string, TemplateResource> };
  return { Resources: parsed.Resources ?? {} };
}

/** The construct path of each resource of a stack, by logical id. */
function constructPaths(app: IConstruct, stackPath: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const construct of app.node.findAll()) {
    if (!(construct instanceof CfnElement) || construct.stack.node.path !== stackPath) continue;
    const logicalId = construct.stack.resolve(construct.logicalId) as unknown;
    if (typeof logicalId === 'string') paths.set(logicalId, construct.node.path);
  }
  return paths;
}

/**
 * A synth-time policy-validation plugin that runs checks on every
 * synthesized template: a finding fails synth unless acknowledged, with a
 * written reason, by `Validations.of(construct).acknowledge({ id: '<name>::<rule>', reason })`.
 */
export class TemplateCheckPlugin implements IPolicyValidationPlugin {
  constructor(
    readonly name: string,
    private readonly checks: readonly TemplateCheck[],
    readonly ruleIds: string[],
  ) {}

  validate(context: IPolicyValidationContext): PolicyValidationPluginReport {
    const violations: PolicyViolation[] = [];
    for (const { templatePath, stackConstructPath } of context.stackTemplates) {
      const template = { ...readTemplate(templatePath), paths: constructPaths(context.appConstruct, stackConstructPath) };
      for (const finding of this.checks.flatMap((check) => check(template))) {
        violations.push({
          ruleName: finding.rule,
          description: finding.message,
          fix: finding.fix,
          severity: 'error',
          violatingResources: [{ resourceLogicalId: finding.logicalId, templatePath, locations: [`/Resources/${finding.logicalId}`] }],
        });
      }
    }
    return { success: violations.length === 0, violations };
  }
}
