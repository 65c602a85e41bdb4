/**
 * The key-policy check, derived from the synthesized template: every
 * resource encrypted with a key of the template must be usable by whoever
 * encrypts it, as AWS documents for each service. A service that encrypts on
 * its own behalf (CloudWatch Logs for a log group, CloudWatch alarms or
 * EventBridge publishing to an encrypted topic or queue) needs a key-policy
 * statement for its service principal with the documented condition; a
 * resource encrypted by the callers' own role (buckets, secrets, Athena
 * results, delivery streams) needs the key policy to let IAM policies of the
 * account grant the key. Synth fails naming the resource otherwise, and
 * also when a resource of a type the check has no rule for refers to a key:
 * a new kind of encrypted resource is looked at, not passed unseen.
 */
import { describeResource, globMatch, refersTo, render, TemplateCheckPlugin, type Finding, type Template, type TemplateResource } from './template.ts';

/** Name of the plugin, the prefix of its rules' acknowledgement ids. */
export const KEY_POLICY_PLUGIN = 'datastroom-key-policy';

/** The rules, by what they require. */
export const KEY_POLICY_RULES = {
  logs: 'logs-principal',
  publisher: 'publisher-principal',
  iam: 'iam-delegation',
  accessLogTarget: 'access-log-target',
  unknownUse: 'unknown-key-use',
} as const;

interface Statement {
  readonly Effect?: string;
  readonly Principal?: unknown;
  readonly Action?: string | string[];
  readonly Condition?: Record<string, Record<string, unknown>>;
}

/** A condition a statement must carry: a key under one of the operators, whose value covers `covers`. */
interface ConditionRequirement {
  readonly key: string;
  readonly operators: readonly string[];
  readonly covers: string;
}

/** What a service principal must be allowed on a key to encrypt one resource. */
interface ServiceRequirement {
  readonly service: string;
  readonly actions: readonly string[];
  readonly conditions: readonly ConditionRequirement[];
}

const ACCOUNT_ROOT = '${AWS::AccountId}';
const arn = (service: string, resource: string) => `arn:\${AWS::Partition}:${service}:\${AWS::Region}:${ACCOUNT_ROOT}:${resource}`;
const LIKE = ['ArnLike', 'ArnEquals', 'StringLike', 'StringEquals'] as const;
const EQUALS = ['StringEquals', 'ArnEquals'] as const;
const PUBLISH_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'] as const;

function statementsOf(key: TemplateResource): Statement[] {
  const policy = key.Properties?.KeyPolicy as { Statement?: Statement[] } | undefined;
  return policy?.Statement ?? [];
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : value === undefined ? [] : [value];
}

function servicesOf(statement: Statement): string[] {
  const principal = statement.Principal as { Service?: unknown } | undefined;
  return list(principal?.Service).map(render).filter((s): s is string => s !== undefined);
}

function allowsActions(statement: Statement, actions: readonly string[]): boolean {
  const granted = list(statement.Action).filter((a): a is string => typeof a === 'string').map((a) => a.toLowerCase());
  return actions.every((action) => granted.some((pattern) => globMatch(pattern, action.toLowerCase())));
}

function meetsCondition(statement: Statement, required: ConditionRequirement): boolean {
  return required.operators.some((operator) => {
    const value = statement.Condition?.[operator]?.[required.key];
    const patterns = list(value).map(render).filter((v): v is string => v !== undefined);
    const like = operator.endsWith('Like');
    return patterns.some((p) => (like ? globMatch(p, required.covers) : p === required.covers));
  });
}

function allows(key: TemplateResource, required: ServiceRequirement): boolean {
  return statementsOf(key).some(
    (s) =>
      s.Effect === 'Allow' &&
      servicesOf(s).includes(required.service) &&
      allowsActions(s, required.actions) &&
      required.conditions.every((c) => meetsCondition(s, c)),
  );
}

function delegatesToIam(key: TemplateResource): boolean {
  return statementsOf(key).some((s) => {
    if (s.Effect !== 'Allow' || s.Condition !== undefined) return false;
    const principals = list((s.Principal as { AWS?: unknown } | undefined)?.AWS).map(render);
    const root = principals.some((p) => p === `arn:\${AWS::Partition}:iam::${ACCOUNT_ROOT}:root` || p === ACCOUNT_ROOT);
    return root && allowsActions(s, ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:CreateGrant']);
  });
}

function describeRequirement(required: ServiceRequirement): string {
  const conditions = required.conditions.map((c) => `${c.operators[0]} ${c.key} covering ${c.covers}`);
  return `allow ${required.service} ${required.actions.join(', ')}${conditions.length > 0 ? ` with ${conditions.join(' and ')}` : ''}`;
}

function resourcesOfType(template: Template, ...types: string[]): [string, TemplateResource][] {
  return Object.entries(template.Resources).filter(([, r]) => types.includes(r.Type));
}

/** The property, as a path, through which each resource type names the key that encrypts it. */
const ENCRYPTION_KEY_PATH: Readonly<Record<string, readonly string[]>> = {
  'AWS::Logs::LogGroup': ['KmsKeyId'],
  'AWS::SNS::Topic': ['KmsMasterKeyId'],
  'AWS::SQS::Queue': ['KmsMasterKeyId'],
  'AWS::S3::Bucket': ['BucketEncryption'],
  'AWS::SecretsManager::Secret': ['KmsKeyId'],
  'AWS::Athena::WorkGroup': ['WorkGroupConfiguration', 'ResultConfiguration'],
  'AWS::KinesisFirehose::DeliveryStream': ['ExtendedS3DestinationConfiguration', 'EncryptionConfiguration'],
};

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** The value at a path of properties. */
function valueAt(properties: Record<string, unknown>, path: readonly string[]): unknown {
  return path.reduce<unknown>((value, key) => asRecord(value)?.[key], properties);
}

/** The properties with the value at a path left out: where else they refer to a key. */
function without(properties: Record<string, unknown>, path: readonly string[]): Record<string, unknown> {
  const [head, ...rest] = path;
  if (head === undefined || !(head in properties)) return properties;
  const { [head]: inner, ...others } = properties;
  const nested = asRecord(inner);
  return rest.length === 0 || nested === undefined ? others : { ...others, [head]: without(nested, rest) };
}

/**
 * Types that refer to a key without being encrypted with it: IAM policies
 * grant it, an alias names it, a key policy is its own.
 */
const NAMES_WITHOUT_ENCRYPTING = (type: string) => type.startsWith('AWS::IAM::') || type === 'AWS::KMS::Alias' || type === 'AWS::KMS::Key';

/** Resources encrypted by their callers' own IAM permissions, through the service. */
const CALLER_ENCRYPTED = new Set(['AWS::S3::Bucket', 'AWS::SecretsManager::Secret', 'AWS::Athena::WorkGroup', 'AWS::KinesisFirehose::DeliveryStream']);

/** The services that publish into an encrypted topic or queue, and what the key must let each do. */
function publishers(template: Template, targetId: string): { logicalId: string; required: ServiceRequirement }[] {
  const found: { logicalId: string; required: ServiceRequirement }[] = [];
  for (const [id, alarm] of resourcesOfType(template, 'AWS::CloudWatch::Alarm', 'AWS::CloudWatch::CompositeAlarm')) {
    const props = alarm.Properties ?? {};
    if (![props.AlarmActions, props.OKActions, props.InsufficientDataActions].some((a) => refersTo(a, targetId))) continue;
    const name = render(props.AlarmName) ?? `\${${id}}`;
    found.push({
      logicalId: id,
      required: {
        service: 'cloudwatch.amazonaws.com',
        actions: PUBLISH_ACTIONS,
        conditions: [
          { key: 'aws:SourceAccount', operators: EQUALS, covers: ACCOUNT_ROOT },
          { key: 'aws:SourceArn', operators: LIKE, covers: arn('cloudwatch', `alarm:${name}`) },
        ],
      },
    });
  }
  for (const [id, rule] of resourcesOfType(template, 'AWS::Events::Rule')) {
    // EventBridge sends no source keys with its KMS requests: AWS documents no condition for it.
    if (refersTo(rule.Properties?.Targets, targetId)) found.push({ logicalId: id, required: { service: 'events.amazonaws.com', actions: PUBLISH_ACTIONS, conditions: [] } });
  }
  for (const [id, bucket] of resourcesOfType(template, 'AWS::S3::Bucket')) {
    const notifications = bucket.Properties?.NotificationConfiguration as { TopicConfigurations?: unknown; QueueConfigurations?: unknown } | undefined;
    if (!refersTo([notifications?.TopicConfigurations, notifications?.QueueConfigurations], targetId)) continue;
    found.push({
      logicalId: id,
      required: {
        service: 's3.amazonaws.com',
        actions: PUBLISH_ACTIONS,
        conditions: [{ key: 'aws:SourceAccount', operators: EQUALS, covers: ACCOUNT_ROOT }],
      },
    });
  }
  return found;
}

/** The key-policy check of one template. */
export function keyPolicyFindings(template: Template): Finding[] {
  const findings: Finding[] = [];
  for (const [keyId, key] of resourcesOfType(template, 'AWS::KMS::Key')) {
    const keyName = describeResource(template, keyId);
    for (const [id, resource] of Object.entries(template.Resources)) {
      const keyPath = ENCRYPTION_KEY_PATH[resource.Type];
      const properties = resource.Properties ?? {};
      // A use this check has no rule for (a Lambda function's KmsKeyArn, a Glue catalog's encryption, a delivery
      // stream's own CMK, ...) must not pass unseen: what its service needs of the key policy is for someone to
      // look up and write down.
      const unknown = keyPath ? without(properties, keyPath) : properties;
      if (!NAMES_WITHOUT_ENCRYPTING(resource.Type) && refersTo(unknown, keyId)) {
        const how = keyPath ? ` through a property other than ${keyPath.join('.')}` : `, and the key-policy check knows no rule for ${resource.Type}`;
        findings.push({
          rule: KEY_POLICY_RULES.unknownUse,
          logicalId: id,
          message: `${describeResource(template, id)} (${resource.Type}) refers to ${keyName}${how}: whether its service can use the key is unchecked`,
          fix: `teach infra/governance/key-policy.ts what this use needs of a key policy (AWS documents it per service), or acknowledge '${KEY_POLICY_PLUGIN}::${KEY_POLICY_RULES.unknownUse}' on it with the reason it needs nothing`,
        });
      }
      if (!keyPath || !refersTo(valueAt(properties, keyPath), keyId)) continue;
      const what = describeResource(template, id);

      if (resource.Type === 'AWS::Logs::LogGroup') {
        const name = render(resource.Properties?.LogGroupName) ?? `\${${id}}`;
        const required: ServiceRequirement = {
          service: 'logs.${AWS::Region}.amazonaws.com',
          actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncryptFrom', 'kms:GenerateDataKey', 'kms:DescribeKey'],
          conditions: [{ key: 'kms:EncryptionContext:aws:logs:arn', operators: LIKE, covers: arn('logs', `log-group:${name}`) }],
        };
        if (!allows(key, required)) {
          findings.push({
            rule: KEY_POLICY_RULES.logs,
            logicalId: id,
            message: `log group ${what} is encrypted with ${keyName}, whose policy does not let CloudWatch Logs use it: the log group cannot be created`,
            fix: `add a key-policy statement to ${describeRequirement(required)}`,
          });
        }
      }

      if (resource.Type === 'AWS::SNS::Topic' || resource.Type === 'AWS::SQS::Queue') {
        const refused = publishers(template, id).filter((p) => !allows(key, p.required));
        for (const service of new Set(refused.map((p) => p.required.service))) {
          const these = refused.filter((p) => p.required.service === service);
          const [first] = these;
          if (!first) continue;
          const sources = these.length === 1 ? describeResource(template, first.logicalId) : `${these.length} resources, e.g. ${describeResource(template, first.logicalId)}`;
          findings.push({
            rule: KEY_POLICY_RULES.publisher,
            logicalId: id,
            message: `${resource.Type === 'AWS::SNS::Topic' ? 'topic' : 'queue'} ${what} is encrypted with ${keyName}, whose policy does not let ${service} publish to it for ${sources}: their messages would be dropped`,
            fix: `add a key-policy statement to ${describeRequirement(first.required)}`,
          });
        }
      }

      if (CALLER_ENCRYPTED.has(resource.Type) && !delegatesToIam(key)) {
        findings.push({
          rule: KEY_POLICY_RULES.iam,
          logicalId: id,
          message: `${what} is encrypted with ${keyName} by its callers' own permissions, but the key policy does not let the account's IAM policies grant the key`,
          fix: `add a key-policy statement allowing the account root (arn:\${AWS::Partition}:iam::\${AWS::AccountId}:root) the key's actions`,
        });
      }
    }
  }

  // Server access logging delivers only to a bucket encrypted with S3-managed keys (SSE-S3).
  for (const [id, bucket] of resourcesOfType(template, 'AWS::S3::Bucket')) {
    const isTarget = resourcesOfType(template, 'AWS::S3::Bucket').some(([, other]) =>
      refersTo((other.Properties?.LoggingConfiguration as { DestinationBucketName?: unknown } | undefined)?.DestinationBucketName, id),
    );
    if (isTarget && JSON.stringify(bucket.Properties?.BucketEncryption ?? {}).includes('aws:kms')) {
      findings.push({
        rule: KEY_POLICY_RULES.accessLogTarget,
        logicalId: id,
        message: `bucket ${describeResource(template, id)} receives server access logs but is encrypted with KMS: S3 delivers access logs only to a bucket with SSE-S3`,
        fix: 'encrypt the access-log bucket with S3-managed keys (AES256)',
      });
    }
  }
  return findings;
}

/** The key-policy check as a synth-time validation plugin. */
export class KeyPolicyValidator extends TemplateCheckPlugin {
  constructor() {
    super(KEY_POLICY_PLUGIN, [keyPolicyFindings], Object.values(KEY_POLICY_RULES));
  }
}
