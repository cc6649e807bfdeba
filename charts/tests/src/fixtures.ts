import type { IDeployment, IStatefulSet } from 'kubernetes-models/apps/v1';
import type { IConfigMap, IPod } from 'kubernetes-models/v1';
import { expect, inject } from 'vitest';
import { type Manifest, ofKind, one, parseManifests, type Scenario, scenarioNames } from './helm.js';

/** Shared accessors of the render tests. */
export type PodSpec = NonNullable<NonNullable<IDeployment['spec']>['template']['spec']>;
export type Container = PodSpec['containers'][number];

/** `helm template` output of a scenario, rendered once by global-setup.ts for every test file. */
export function renderedText(name: Scenario): string {
  const text = inject('renders')[name];
  if (text === undefined) throw new Error(`scenario ${name} was not rendered by global-setup`);
  return text;
}

const cache = new Map<Scenario, Manifest[]>();
/** The parsed render of a scenario. */
export function rendered(name: Scenario): Manifest[] {
  let docs = cache.get(name);
  if (!docs) {
    docs = parseManifests(renderedText(name));
    cache.set(name, docs);
  }
  return docs;
}
export const names = scenarioNames;

export const deployment = (docs: Manifest[]) => one<IDeployment>(docs, 'Deployment');
export const podTemplate = (docs: Manifest[]) => {
  const t = deployment(docs).spec?.template;
  if (!t) throw new Error('Deployment without a pod template');
  return t;
};
export const podSpec = (docs: Manifest[]): PodSpec => {
  const spec = deployment(docs).spec?.template.spec;
  if (!spec) throw new Error('Deployment without a pod spec');
  return spec;
};
export const container = (docs: Manifest[], name: string): Container => {
  const c = podSpec(docs).containers.find((x) => x.name === name);
  if (!c) throw new Error(`no ${name} container`);
  return c;
};
export const server = (docs: Manifest[]): Container => container(docs, 'server');
/** The server's ConfigMap (the one with the drain settings). */
export const configOf = (docs: Manifest[]): Record<string, string> => {
  const cm = ofKind<IConfigMap>(docs, 'ConfigMap').find((c) => c.data?.DRAIN_WINDOW_MS !== undefined);
  if (!cm?.data) throw new Error('no server ConfigMap');
  return cm.data;
};
export const preStopSeconds = (c: Container): number => {
  const hook = c.lifecycle?.preStop;
  if (hook?.sleep) return Number(hook.sleep.seconds);
  const cmd = hook?.exec?.command ?? [];
  expect(cmd[0]).toBe('sleep');
  return Number(cmd[1]);
};
/** Every pod template the chart renders (Deployment, StatefulSet, the helm test Pod). */
export const podSpecs = (docs: Manifest[]): [string, PodSpec][] => [
  ...ofKind<IDeployment>(docs, 'Deployment').map((d): [string, PodSpec] => [
    `Deployment/${d.metadata?.name}`,
    d.spec?.template.spec as PodSpec,
  ]),
  ...ofKind<IStatefulSet>(docs, 'StatefulSet').map((d): [string, PodSpec] => [
    `StatefulSet/${d.metadata?.name}`,
    d.spec?.template.spec as PodSpec,
  ]),
  ...ofKind<IPod>(docs, 'Pod').map((p): [string, PodSpec] => [`Pod/${p.metadata?.name}`, p.spec as PodSpec]),
];
/** Seconds of a duration like `25s`. */
export const seconds = (d: string | undefined): number => Number(/^(\d+)s$/.exec(d ?? '')?.[1]);
