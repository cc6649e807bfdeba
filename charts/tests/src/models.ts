import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Pod, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { crdErrors, isCustomResource } from './crd-schema.js';
import type { Manifest } from './helm.js';

interface Validatable {
  validate(): void;
}
/** Any model class: its constructor takes that model's data (checked by validate(), not by tsc). */
type ModelClass = new (data: never) => Validatable;

/**
 * Every built-in apiVersion/kind the chart may render, with the model that validates it (custom
 * resources are checked against their vendored CRD schemas instead). A template that renders
 * anything else fails the suite until it is registered here or in crds-update.ts.
 */
export const models: Record<string, ModelClass> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Pod': Pod,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

/**
 * Validates a document: a custom resource strictly against its project's CRD schema (unknown
 * fields rejected, crd-schema.ts), anything else with its kubernetes-models model. Throws with
 * the kind and name on failure.
 */
export function validateManifest(doc: Manifest): void {
  const key = `${doc.apiVersion}/${doc.kind}`;
  if (isCustomResource(doc)) {
    const errors = crdErrors(doc);
    if (errors.length > 0) throw new Error(`${key} ${doc.metadata.name} is invalid: ${errors.join('; ')}`);
    return;
  }
  const Model = models[key];
  if (!Model) throw new Error(`no model registered for ${key} (${doc.metadata.name})`);
  try {
    new Model(doc as never).validate();
  } catch (err) {
    throw new Error(
      `${key} ${doc.metadata.name} is invalid: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}
