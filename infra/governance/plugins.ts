/**
 * The policy-validation plugins every synth runs: cdk-nag's AWS Solutions and
 * Serverless packs, the AWS Control Tower proactive controls (CloudFormation
 * Guard rules, with the cfn-guard binary the package ships, so offline), the
 * key-policy check and the view check. A finding fails synth unless it is
 * acknowledged, with a written reason, on the construct it is about.
 */
import type { App, IPolicyValidationPlugin } from 'aws-cdk-lib';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { KeyPolicyValidator } from './key-policy.ts';
import { ViewValidator } from './views.ts';

/** The plugins, in the order their reports print. */
export function platformValidations(app: App): IPolicyValidationPlugin[] {
  return [new AwsSolutionsChecks(app), new ServerlessChecks(app), new CfnGuardValidator(), new KeyPolicyValidator(), new ViewValidator()];
}
