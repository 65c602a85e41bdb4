/**
 * The CDK app: `npx cdk synth` / `npx cdk deploy`. Environment-agnostic (no
 * account or region at synth), Lambda bundled with the local esbuild, and
 * synth failing on any unacknowledged finding of cdk-nag, the Control Tower
 * proactive controls, the key-policy check or the view check.
 */
import { App, Validations } from 'aws-cdk-lib';
import { readConfig } from './config.ts';
import { platformValidations } from './governance/plugins.ts';
import { stackName } from './names.ts';
import { DatastroomStack } from './stacks/datastroom-stack.ts';

const app = new App();
const config = readConfig(app.node);
new DatastroomStack(app, stackName(config.envName), { config });
Validations.of(app).addPlugins(...platformValidations(app));
app.synth();
