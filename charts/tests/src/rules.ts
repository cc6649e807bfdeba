import { type Manifest, one } from './helm.js';

/** A rule of a rendered PrometheusRule group. */
export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface RuleGroup {
  name: string;
  rules: Rule[];
}

/** The rule groups of the rendered PrometheusRule (what prometheus-operator loads). */
export function ruleGroups(docs: Manifest[]): RuleGroup[] {
  return one<{ spec: { groups: RuleGroup[] } }>(docs, 'PrometheusRule').spec.groups;
}
