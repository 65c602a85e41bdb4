/**
 * The synthesized platform as CloudFormation sees it: the real stack of
 * infra/app.ts synthesized into a temporary cloud assembly (optionally with
 * the transform bundled), its template parsed, and the intrinsic functions
 * it uses resolved against what the rehearsal created.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { z } from 'zod';
import { readConfig } from '../../../infra/config.ts';
import { stackName } from '../../../infra/names.ts';
import { DatastroomStack } from '../../../infra/stacks/datastroom-stack.ts';
import { tempDir } from '../../helpers/fixtures.ts';

const Resource = z.looseObject({
  Type: z.string(),
  Properties: z.record(z.string(), z.unknown()).optional(),
  DependsOn: z.union([z.string(), z.array(z.string())]).optional(),
});
const CfnTemplate = z.looseObject({
  Resources: z.record(z.string(), Resource),
  Outputs: z.record(z.string(), z.looseObject({ Value: z.unknown(), Description: z.string().optional() })).optional(),
});
const AssetManifest = z.object({
  files: z.record(z.string(), z.object({ source: z.object({ path: z.string() }), destinations: z.record(z.string(), z.object({ objectKey: z.string() })) })),
});

/** One resource of a template. */
export type CfnResource = z.infer<typeof Resource>;
/** A CloudFormation template, as far as the rehearsal reads it. */
export type CfnTemplate = z.infer<typeof CfnTemplate>;

/** The platform synthesized as `cdk synth` would. */
export interface SynthesizedPlatform {
  readonly stackName: string;
  readonly envName: string;
  readonly template: CfnTemplate;
  /** The cloud assembly directory. */
  readonly outdir: string;
  /** Where each bundled Lambda function's code is, by logical id (only when bundled). */
  readonly functionCode: ReadonlyMap<string, string>;
}

/**
 * Synthesizes the stack infra/app.ts deploys, with the configuration app.ts
 * reads from context (none here: the defaults). With `bundle`, the Lambda
 * code is bundled exactly as for a deploy; without, bundling is skipped.
 */
export async function synthPlatform(options: { bundle: boolean }): Promise<SynthesizedPlatform> {
  const outdir = await tempDir('datastroom-rehearse-', 'file');
  const app = new App({ outdir, context: options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] } });
  const config = readConfig(app.node);
  const name = stackName(config.envName);
  new DatastroomStack(app, name, { config });
  const assembly = app.synth();
  const stack = assembly.getStackByName(name);
  const template = CfnTemplate.parse(stack.template);
  const functionCode = new Map<string, string>();
  if (options.bundle) {
    const manifest = AssetManifest.parse(JSON.parse(readFileSync(join(outdir, `${name}.assets.json`), 'utf8')));
    for (const [id, fn] of resourcesOfType(template, 'AWS::Lambda::Function')) {
      // Inline code (Code.ZipFile) has no asset.
      const code = z.object({ Code: z.object({ S3Key: z.string() }) }).safeParse(fn.Properties);
      const key = code.success ? code.data.Code.S3Key : undefined;
      const asset = Object.values(manifest.files).find((f) => Object.values(f.destinations).some((d) => d.objectKey === key));
      if (asset) functionCode.set(id, join(outdir, asset.source.path));
    }
  }
  return { stackName: name, envName: config.envName, template, outdir, functionCode };
}

/** The resources of one type, by logical id. */
export function resourcesOfType(template: CfnTemplate, type: string): [string, CfnResource][] {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}

/** The logical id a stack output refers to with { Ref }. */
export function outputRef(template: CfnTemplate, output: string): string {
  const value = z.object({ Ref: z.string() }).safeParse(template.Outputs?.[output]?.Value);
  if (!value.success) throw new Error(`stack output ${output} is not a { Ref } to a resource`);
  return value.data.Ref;
}

/** Every logical id a value refers to (Ref, Fn::GetAtt, Fn::Sub), pseudo parameters left out. */
export function referencedIds(value: unknown, into: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) {
    for (const v of value) referencedIds(v, into);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'Ref' && typeof v === 'string' && !v.startsWith('AWS::')) into.add(v);
      else if (k === 'Fn::GetAtt' && Array.isArray(v) && typeof v[0] === 'string') into.add(v[0]);
      else if (k === 'Fn::Sub') {
        const text = Array.isArray(v) ? v[0] : v;
        if (typeof text === 'string') for (const m of text.matchAll(/\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}/g)) into.add(m[1]!);
        if (Array.isArray(v)) referencedIds(v[1], into);
      } else referencedIds(v, into);
    }
  }
  return into;
}

/** A template value with no intrinsic function left in it. */
export type Resolved = string | number | boolean | null | Resolved[] | { [key: string]: Resolved };

/** A reference the rehearsal cannot resolve: the resource was not created, or the function is not supported. */
export class UnresolvedReference extends Error {
  constructor(what: string) {
    super(`cannot resolve ${what}: the rehearsal did not create it`);
    this.name = 'UnresolvedReference';
  }
}

/**
 * Resolves the intrinsic functions CDK emits (Ref, Fn::GetAtt, Fn::Join,
 * Fn::Sub, Fn::Select, Fn::Split) against the physical ids and attributes of
 * what the rehearsal created.
 */
export class Resolver {
  private readonly refs = new Map<string, string>();
  private readonly attributes = new Map<string, string>();

  /** Records the value of { Ref: id } (a name, URL or ARN, as CloudFormation answers for the type). */
  setRef(id: string, value: string): void {
    this.refs.set(id, value);
  }

  /** Records the value of { Fn::GetAtt: [id, attribute] }. */
  setAttribute(id: string, attribute: string, value: string): void {
    this.attributes.set(`${id}.${attribute}`, value);
  }

  has(id: string): boolean {
    return this.refs.has(id);
  }

  ref(id: string): string {
    const value = this.refs.get(id);
    if (value === undefined) throw new UnresolvedReference(`{ Ref: ${id} }`);
    return value;
  }

  attribute(id: string, attribute: string): string {
    const value = this.attributes.get(`${id}.${attribute}`);
    if (value === undefined) throw new UnresolvedReference(`{ Fn::GetAtt: [${id}, ${attribute}] }`);
    return value;
  }

  resolve(value: unknown): Resolved {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (value === null || typeof value !== 'object') {
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
      throw new Error(`not a template value: ${String(value)}`);
    }
    const entries = Object.entries(value);
    const [key, arg] = entries[0] ?? [];
    if (entries.length === 1 && key !== undefined && (key === 'Ref' || key.startsWith('Fn::'))) return this.intrinsic(key, arg);
    return Object.fromEntries(entries.map(([k, v]) => [k, this.resolve(v)]));
  }

  /** Resolves a value that must come out a string. */
  string(value: unknown): string {
    const resolved = this.resolve(value);
    if (typeof resolved !== 'string') throw new Error(`expected a string, got ${JSON.stringify(resolved)}`);
    return resolved;
  }

  private intrinsic(name: string, arg: unknown): Resolved {
    switch (name) {
      case 'Ref':
        return this.ref(z.string().parse(arg));
      case 'Fn::GetAtt': {
        const [id, attribute] = z.tuple([z.string(), z.string()]).parse(arg);
        return this.attribute(id, attribute);
      }
      case 'Fn::Join': {
        const [separator, parts] = z.tuple([z.string(), z.array(z.unknown())]).parse(arg);
        return parts.map((p) => this.string(p)).join(separator);
      }
      case 'Fn::Select': {
        const [index, list] = z.tuple([z.union([z.number(), z.string()]), z.unknown()]).parse(arg);
        const items = this.resolve(list);
        if (!Array.isArray(items)) throw new Error('Fn::Select needs a list');
        return items[Number(index)] ?? null;
      }
      case 'Fn::Split': {
        const [separator, text] = z.tuple([z.string(), z.unknown()]).parse(arg);
        return this.string(text).split(separator);
      }
      case 'Fn::Sub': {
        const [text, variables] = Array.isArray(arg) ? z.tuple([z.string(), z.record(z.string(), z.unknown())]).parse(arg) : [z.string().parse(arg), {}];
        return text.replace(/\$\{([^}]+)\}/g, (_, expression: string) => {
          if (expression in variables) return this.string(variables[expression]);
          const [id, ...attribute] = expression.split('.');
          return attribute.length ? this.attribute(id!, attribute.join('.')) : this.ref(id!);
        });
      }
      default:
        throw new UnresolvedReference(`${name} (not supported by the rehearsal)`);
    }
  }
}
