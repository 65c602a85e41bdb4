/**
 * The CDK app: `npx cdk synth` / `npx cdk deploy`. Environment-agnostic (no
 * account or region at synth), Lambda bundled with the local esbuild, and
 * cdk-nag's AWS Solutions and Serverless packs failing synth on findings.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { readConfig } from './config.ts';
import { stackName } from './names.ts';
import { DatastroomStack } from './stacks/datastroom-stack.ts';

const app = new App();
const config = readConfig(app.node);
new DatastroomStack(app, stackName(config.envName), { config });
Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
app.synth();
