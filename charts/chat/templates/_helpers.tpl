{{/*
Expand the name of the chart.
*/}}
{{- define "chat.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name. Truncated at 63 chars (DNS label limit); a
release name that already contains the chart name is used as is.
*/}}
{{- define "chat.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version as used by the chart label.
*/}}
{{- define "chat.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "chat.labels" -}}
helm.sh/chart: {{ include "chat.chart" . }}
{{ include "chat.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "chat.name" . }}
{{- end }}

{{/*
Selector labels (release-wide). Each workload adds app.kubernetes.io/component so the server,
the embedded Redis and the test pod never select each other.
*/}}
{{- define "chat.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chat.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selector labels of the server pods. */}}
{{- define "chat.serverSelectorLabels" -}}
{{ include "chat.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{/* Selector labels of the embedded Redis pod. */}}
{{- define "chat.redisSelectorLabels" -}}
{{ include "chat.selectorLabels" . }}
app.kubernetes.io/component: redis
{{- end }}

{{/*
Create the name of the service account to use.
*/}}
{{- define "chat.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "chat.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The server image reference (digest wins over tag; tag defaults to appVersion). */}}
{{- define "chat.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Name of the chart-managed Secret (token secret, external Redis URL). */}}
{{- define "chat.secretName" -}}
{{- printf "%s-secret" (include "chat.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Secret and key the TOKEN_SECRET comes from. */}}
{{- define "chat.tokenSecretName" -}}
{{- default (include "chat.secretName" .) .Values.auth.existingSecret }}
{{- end }}
{{- define "chat.tokenSecretKey" -}}
{{- if .Values.auth.existingSecret }}{{ .Values.auth.existingSecretKey }}{{ else }}TOKEN_SECRET{{ end }}
{{- end }}

{{/* Label that lets a pod reach the server when networkPolicy.allowExternal is false. */}}
{{- define "chat.clientLabelKey" -}}
{{- printf "%s-client" (include "chat.fullname" . | trunc 56 | trimSuffix "-") }}
{{- end }}

{{/* Name of the embedded Redis resources. */}}
{{- define "chat.redisName" -}}
{{- printf "%s-redis" (include "chat.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Where Redis is: "sentinel" (REDIS_SENTINELS), "cluster" (REDIS_CLUSTER_NODES), or where REDIS_URL comes from: "existingSecret", "secret" (redis.url in the chart Secret),
"embedded" (in-chart demo Redis) or "none" (in-memory broker: one replica only).
*/}}
{{- define "chat.redisSource" -}}
{{- if .Values.redis.sentinels }}sentinel
{{- else if .Values.redis.clusterNodes }}cluster
{{- else if .Values.redis.existingSecret }}existingSecret
{{- else if .Values.redis.url }}secret
{{- else if .Values.redis.embedded.enabled }}embedded
{{- else }}none
{{- end }}
{{- end }}

{{/* Whether the chart renders its own Secret (auth.tokenSecret and/or redis.url). */}}
{{- define "chat.createSecret" -}}
{{- if or (not .Values.auth.existingSecret) (eq (include "chat.redisSource" .) "secret") }}true{{ end }}
{{- end }}

{{/* Istio data plane of the server pods: "" (no Istio), "native", "legacy" or "ambient". */}}
{{- define "chat.meshMode" -}}
{{- if .Values.istio.enabled }}{{ .Values.istio.sidecarMode }}{{ end }}
{{- end }}

{{/* Whether the pods carry an istio-proxy sidecar (native or legacy). */}}
{{- define "chat.sidecar" -}}
{{- if and .Values.istio.enabled (ne .Values.istio.sidecarMode "ambient") }}true{{ end }}
{{- end }}

{{/* Pod labels that put a pod into the mesh the way istio.sidecarMode says. */}}
{{- define "chat.meshPodLabels" -}}
{{- if eq (include "chat.sidecar" .) "true" }}
{{- if .Values.istio.injectSidecar }}
sidecar.istio.io/inject: "true"
{{- end }}
{{- else if eq (include "chat.meshMode" .) "ambient" }}
istio.io/dataplane-mode: ambient
sidecar.istio.io/inject: "false"
{{- end }}
{{- end }}

{{/* Regex of the server pod names (Deployment pods: <fullname>-<hash>-<suffix>). */}}
{{- define "chat.podNameRegex" -}}
{{- printf "%s-[a-z0-9]+-[a-z0-9]+" (include "chat.fullname" .) }}
{{- end }}

{{/*
Namespace of every namespaced object: rendered explicitly so `helm template | kubectl apply`
and GitOps tools never fall back to "default".
*/}}
{{- define "chat.namespace" -}}
{{- .Release.Namespace }}
{{- end }}

{{/* Drain arithmetic: the single source of every shutdown number. */}}
{{- define "chat.drainWindowMs" -}}
{{- mul .Values.drain.windowSeconds 1000 }}
{{- end }}
{{- define "chat.shutdownTimeoutMs" -}}
{{- mul (add .Values.drain.windowSeconds .Values.drain.shutdownMarginSeconds) 1000 }}
{{- end }}
{{/* Seconds from pod deletion until the server has exited at the latest. */}}
{{- define "chat.appStopSeconds" -}}
{{- add .Values.drain.preStopSeconds .Values.drain.windowSeconds .Values.drain.shutdownMarginSeconds }}
{{- end }}
{{- define "chat.terminationGracePeriodSeconds" -}}
{{- add (include "chat.appStopSeconds" . | atoi) .Values.drain.graceMarginSeconds }}
{{- end }}

{{/* Whether any autoscaler owns the replica count. */}}
{{- define "chat.autoscaled" -}}
{{- if or .Values.autoscaling.hpa.enabled .Values.autoscaling.keda.enabled }}true{{ end }}
{{- end }}

{{/*
Cross-value checks the schema cannot express. Included by the Deployment so every render
runs them.
*/}}
{{- define "chat.validate" -}}
{{- if and .Values.autoscaling.hpa.enabled .Values.autoscaling.keda.enabled }}
{{- fail "autoscaling.hpa.enabled and autoscaling.keda.enabled are mutually exclusive: KEDA creates its own HPA, two autoscalers would fight over the replica count" }}
{{- end }}
{{- if gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- $replicas := ternary .Values.autoscaling.maxReplicas .Values.replicaCount (eq (include "chat.autoscaled" .) "true") }}
{{- if and (eq (include "chat.redisSource" .) "none") (gt (int $replicas) 1) }}
{{- fail "no Redis configured (redis.url, redis.existingSecret or redis.embedded.enabled): the in-memory broker serves one replica only, set replicaCount to 1 or configure Redis" }}
{{- end }}
{{- if and (eq (include "chat.autoscaled" .) "true") (lt (int .Values.autoscaling.scaleDown.periodSeconds) (include "chat.terminationGracePeriodSeconds" . | int)) }}
{{- fail (printf "autoscaling.scaleDown.periodSeconds (%d) must be at least terminationGracePeriodSeconds (%s) so one drain ends before the next scale-down" (int .Values.autoscaling.scaleDown.periodSeconds) (include "chat.terminationGracePeriodSeconds" .)) }}
{{- end }}
{{- if and .Values.redis.sentinels .Values.redis.clusterNodes }}
{{- fail "redis.sentinels and redis.clusterNodes are mutually exclusive: a Sentinel-managed primary or a Redis Cluster, not both" }}
{{- end }}
{{- if gt (int .Values.server.history.pageSize) (int .Values.server.history.maxLength) }}
{{- fail "server.history.pageSize must not exceed server.history.maxLength" }}
{{- end }}
{{- if and (eq .Values.ingress.kind "istio") (not .Values.istio.enabled) }}
{{- fail "ingress.kind is istio: set istio.enabled (or choose ingress.kind gatewayApi, nginx or none)" }}
{{- end }}
{{- if and (eq .Values.ingress.kind "istio") (not .Values.istio.gateway.create) (not .Values.istio.gateway.existing) }}
{{- fail "istio.gateway.create is false: set istio.gateway.existing to the Gateway (namespace/name) the VirtualService attaches to" }}
{{- end }}
{{- if and (eq .Values.ingress.kind "gatewayApi") (not .Values.ingress.gatewayApi.parentRefs) }}
{{- fail "ingress.kind is gatewayApi: set ingress.gatewayApi.parentRefs to the Gateway(s) the HTTPRoute attaches to" }}
{{- end }}
{{- if and .Values.auth.jwks.url (not (and .Values.auth.jwks.issuer .Values.auth.jwks.audience)) }}
{{- fail "auth.jwks.url needs auth.jwks.issuer and auth.jwks.audience: identity-provider tokens are checked against both" }}
{{- end }}
{{- if and .Values.auth.existingSecret .Values.auth.tokenSecret }}
{{- fail "set auth.existingSecret or auth.tokenSecret, not both" }}
{{- end }}
{{- if not (or .Values.auth.existingSecret .Values.auth.tokenSecret) }}
{{- fail "no token secret: set auth.existingSecret to a Secret you manage (kubectl create secret generic chat-token --from-literal=TOKEN_SECRET=\"$(openssl rand -base64 36)\"; or External Secrets / Sealed Secrets), or auth.tokenSecret (>= 32 characters). The chart never generates it: a generated value changes on every render (Argo CD, Flux), rolling the pods and invalidating every token" }}
{{- end }}
{{- if eq (int .Values.metrics.port) (int .Values.server.port) }}
{{- fail "metrics.port must differ from server.port: metrics are served on their own port, never on the routed one" }}
{{- end }}
{{- end }}

{{/* prometheus-adapter rule exposing the connection gauge per pod (NOTES.txt, ConfigMap). */}}
{{- define "chat.adapterRules" -}}
rules:
  - seriesQuery: '{{ .Values.autoscaling.metric }}{namespace!="",pod!=""}'
    resources:
      overrides:
        namespace: {resource: "namespace"}
        pod: {resource: "pod"}
    name:
      matches: "^{{ .Values.autoscaling.metric }}$"
      as: "{{ .Values.autoscaling.metric }}"
    # max, not sum: a pod scraped by two jobs (pod annotations and a monitor) still counts once.
    metricsQuery: 'max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
{{- end }}

{{/*
checkov skips (https://www.checkov.io/2.Basics/Suppressing%20and%20Skipping%20Policies.html),
each with its reason, rendered as `checkov.io/skipN` annotations on the object the check
reports. charts/chat/README.md lists them; charts/tests runs checkov and fails on any other.
*/}}
{{- define "chat.checkovSkips.serverImage" -}}
{{- $s := list }}
{{- $s = append $s "CKV_K8S_15=imagePullPolicy IfNotPresent on purpose: the tag is an immutable release version (or image.digest pins it), and Always would make every pod restart depend on the registry" }}
{{- if not .Values.image.digest }}
{{- $s = append $s "CKV_K8S_43=set image.digest to pin by digest (the check then passes); the default is the versioned tag the README builds, pushes and installs" }}
{{- end }}
{{- $s = append $s "CKV_K8S_35=the server reads TOKEN_SECRET and REDIS_URL from its environment (12-factor config validated at boot, never logged); both come from a Secret through secretKeyRef, never a literal" }}
{{- toJson $s }}
{{- end }}

{{- define "chat.checkovAnnotations" -}}
{{- range $i, $s := . }}
checkov.io/skip{{ add1 $i }}: {{ $s | quote }}
{{- end }}
{{- end }}

{{/*
TRUST_PROXY: server.trustProxy, or when empty "1" (one proxy hop: the gateway, ingress or mesh
hop that appends the client address) if the chart puts a proxy in front, else "false".
*/}}
{{- define "chat.trustProxy" -}}
{{- if .Values.server.trustProxy }}{{ .Values.server.trustProxy }}
{{- else if or (ne .Values.ingress.kind "none") .Values.istio.enabled }}1
{{- else }}false
{{- end }}
{{- end }}
