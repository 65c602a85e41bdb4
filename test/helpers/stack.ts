import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { Dataset } from '../../datasets/index.ts';
import { CONFIG_DEFAULTS, type PlatformConfig } from '../../infra/config.ts';
import { DatastroomStack } from '../../infra/stacks/datastroom-stack.ts';

/** An app whose stacks skip Lambda bundling: template tests need no asset. */
export function testApp(context: Record<string, unknown> = {}): App {
  return new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
}

/** The platform stack in a test app, and its template. */
export function platform(options: { config?: Partial<PlatformConfig>; datasets?: readonly Dataset[] } = {}) {
  const app = testApp();
  const stack = new DatastroomStack(app, 'Test', { config: { ...CONFIG_DEFAULTS, ...options.config }, datasets: options.datasets });
  return { app, stack, template: Template.fromStack(stack) };
}
