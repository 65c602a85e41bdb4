export * from './define.ts';
export * from './registry.ts';
export * from './json-schema.ts';
export * from './formats/define.ts';
export * from './pull-sources.ts';
