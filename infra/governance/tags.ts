import { Tags } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { Dataset } from '../../datasets/index.ts';

/** Tag keys the platform puts on every taggable resource. */
export const TAG_KEYS = {
  platform: 'datastroom:platform',
  environment: 'datastroom:environment',
  component: 'datastroom:component',
  dataset: 'datastroom:dataset',
  owner: 'datastroom:owner',
  steward: 'datastroom:steward',
  classification: 'datastroom:classification',
  personalData: 'datastroom:personal-data',
} as const;

/** Keys a dataset's resources must carry, besides the platform's. */
export const DATASET_TAG_KEYS = [TAG_KEYS.dataset, TAG_KEYS.owner, TAG_KEYS.steward, TAG_KEYS.classification, TAG_KEYS.personalData] as const;

/** Keys every resource must carry. */
export const PLATFORM_TAG_KEYS = [TAG_KEYS.platform, TAG_KEYS.environment, TAG_KEYS.component] as const;

/** Tag values allow letters, digits, spaces and _ . : / = + - @ only. */
function tagValue(text: string): string {
  return text.replace(/[^\p{L}\p{Z}\p{N}_.:/=+\-@]/gu, ' ').slice(0, 256).trim();
}

/** The governance tags of a dataset, derived from its record. */
export function datasetTags(dataset: Dataset): Record<string, string> {
  const g = dataset.governance;
  return {
    [TAG_KEYS.dataset]: dataset.id,
    [TAG_KEYS.owner]: tagValue(g.owner),
    [TAG_KEYS.steward]: tagValue(g.steward),
    [TAG_KEYS.classification]: g.classification,
    [TAG_KEYS.personalData]: g.personalData.length ? tagValue(g.personalData.join(' ')) : 'none',
  };
}

/** Tags a construct and everything in it with a dataset's governance tags. */
export function tagDataset(scope: IConstruct, dataset: Dataset): void {
  for (const [key, value] of Object.entries(datasetTags(dataset))) Tags.of(scope).add(key, value);
}

/** Tags a construct and everything in it with the platform component it belongs to. */
export function tagComponent(scope: IConstruct, component: string): void {
  Tags.of(scope).add(TAG_KEYS.component, component);
}
