/**
 * The cfn-lint warnings the synthesized templates keep, each with the reason
 * it is kept. The rehearsal fails on any other warning, on any error, and on
 * an entry here that no longer matches a warning.
 */
export interface AcceptedWarning {
  /** cfn-lint rule id, e.g. W3005. */
  readonly rule: string;
  /** Logical ids of the resources it is accepted on. */
  readonly resource: RegExp;
  readonly reason: string;
}

/** Every warning kept, with why. */
export const ACCEPTED_WARNINGS: readonly AcceptedWarning[] = [
  {
    rule: 'W3005',
    resource: /^(TransformFunction|CompactionFunction|PublishingFunction|IngestionDeviceCleanupFunction|IntegrationsPushFunction|IntegrationsPullFunction)[0-9A-F]{8}$/,
    reason:
      'aws-cdk-lib\'s Lambda Function adds DependsOn on the role it is given as well as on the role\'s policy; the policy is the dependency that matters (the function must not run before its permissions exist), the one on the role is redundant and harmless.',
  },
  {
    rule: 'W3005',
    resource: /^CustomS3AutoDeleteObjectsCustomResourceProviderHandler[0-9A-F]{8}$/,
    reason:
      'With destroyData, aws-cdk-lib\'s provider that empties the buckets declares DependsOn on its role besides reading the role\'s Arn; CloudFormation orders them the same either way, so the extra DependsOn is redundant and harmless.',
  },
];
