import { App, Validations } from 'aws-cdk-lib';
import { DatastroomStack } from './infra/stacks/datastroom-stack.ts';
import { platformValidations } from './infra/governance/plugins.ts';
const app = new App({ outdir: '/tmp/ct-out2', context: { 'aws:cdk:bundling-stacks': [] } });
new DatastroomStack(app, 'Datastroom-dev');
Validations.of(app).addPlugins(...platformValidations(app));
try { app.synth(); console.log('SYNTH OK'); } catch (e) { console.log(String(e).slice(0, 300)); }
