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
Where REDIS_URL comes from: "existingSecret", "secret" (redis.url in the chart Secret),
"embedded" (in-chart demo Redis) or "none" (in-memory broker: one replica only).
*/}}
{{- define "chat.redisSource" -}}
{{- if .Values.redis.existingSecret }}existingSecret
{{- else if .Values.redis.url }}secret
{{- else if .Values.redis.embedded.enabled }}embedded
{{- else }}none
{{- end }}
{{- end }}

{{/* Whether the chart renders its own Secret (always holds TOKEN_SECRET unless existingSecret). */}}
{{- define "chat.createSecret" -}}
{{- if or (not .Values.auth.existingSecret) (eq (include "chat.redisSource" .) "secret") }}true{{ end }}
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
{{- if gt (int .Values.server.history.pageSize) (int .Values.server.history.maxLength) }}
{{- fail "server.history.pageSize must not exceed server.history.maxLength" }}
{{- end }}
{{- if and .Values.istio.enabled (not .Values.istio.gateway.create) (not .Values.istio.gateway.existing) }}
{{- fail "istio.gateway.create is false: set istio.gateway.existing to the Gateway (namespace/name) the VirtualService attaches to" }}
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
    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
{{- end }}
