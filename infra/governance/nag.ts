import { Stack, Validations, type CfnElement } from 'aws-cdk-lib';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges the cdk-nag IAM5 finding of each object-prefix grant: access to
 * `<bucket>/<prefix>*` is as narrow as S3 object access gets (objects are
 * created under the prefix at run time), so the wildcard is the resource, not
 * a shortcut. The ids are built from the same prefixes the policy grants.
 */
export function acknowledgeObjectPrefixes(scope: IConstruct, bucket: s3.IBucket, prefixes: readonly string[], reason: string): void {
  const logicalId = Stack.of(bucket).getLogicalId(bucket.node.defaultChild as CfnElement);
  for (const prefix of prefixes) {
    Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${prefix}*]`, reason });
  }
}

/** Namespace of the AWS Control Tower proactive controls' findings (the cfn-guard plugin's name). */
export const CONTROL_TOWER = 'cdk-validator-cfnguard';

/** Acknowledges a Control Tower proactive control on a construct, with the written reason it does not apply there. */
export function acknowledgeControl(scope: IConstruct, rule: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `${CONTROL_TOWER}::${rule}`, reason });
}
