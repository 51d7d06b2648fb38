{{/* Name prefix of every object: the release name, with the chart's unless it has it. */}}
{{- define "leadbridge.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of one component; call with (dict "root" $ "component" "capture"). */}}
{{- define "leadbridge.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "leadbridge.labels" -}}
{{ include "leadbridge.selectorLabels" . }}
app.kubernetes.io/part-of: leadbridge
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* The image of a service; call with (dict "root" $ "service" "capture"). */}}
{{- define "leadbridge.image" -}}
{{- $image := .root.Values.image -}}
{{- printf "%s%s%s:%s" $image.registry $image.repositoryPrefix .service ($image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}

{{/* The broker and database from the cluster's Secret, and the topic prefix. */}}
{{- define "leadbridge.connectionEnv" -}}
- name: LEADBRIDGE_KAFKA_BOOTSTRAP
  valueFrom:
    secretKeyRef:
      name: {{ .Values.connection.secretName }}
      key: {{ .Values.connection.kafkaBootstrapKey }}
- name: LEADBRIDGE_TOPIC_PREFIX
  value: {{ .Values.topicPrefix | quote }}
{{- end -}}

{{- define "leadbridge.databaseEnv" -}}
- name: LEADBRIDGE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.connection.secretName }}
      key: {{ .Values.connection.databaseUrlKey }}
{{- end -}}

{{/* registry.yaml (generated from the code by `make generate`): topics with their
partitions, each service's consumed topics and consumer group. */}}
{{- define "leadbridge.registry" -}}
{{- .Files.Get "registry.yaml" | fromYaml | toJson -}}
{{- end -}}

{{/* What a service consumes, from the registry: (dict "root" $ "service" "capture") -> a list, as JSON. */}}
{{- define "leadbridge.consumes" -}}
{{- $registry := include "leadbridge.registry" .root | fromJson -}}
{{- $entry := index $registry.services .service | default dict -}}
{{- $entry.consumes | default list | toJson -}}
{{- end -}}

{{/* The consumer group of a service: shared.consumer.group_id, with the release's prefix. */}}
{{- define "leadbridge.consumerGroup" -}}
{{- $registry := include "leadbridge.registry" .root | fromJson -}}
{{- $entry := index $registry.services .service | default dict -}}
{{- if not $entry.consumerGroup -}}
{{- fail (printf "registry.yaml has no consumer group for %q: run make generate" .service) -}}
{{- end -}}
{{- printf "%s%s" .root.Values.topicPrefix $entry.consumerGroup -}}
{{- end -}}

{{/* How many replicas can share a service's work: its largest topic's partition count. */}}
{{- define "leadbridge.partitionBound" -}}
{{- $registry := include "leadbridge.registry" .root | fromJson -}}
{{- $bound := 0 -}}
{{- range (include "leadbridge.consumes" . | fromJsonArray) -}}
{{- $topic := index $registry.topics . | default dict -}}
{{- if not $topic.partitions -}}
{{- fail (printf "%s consumes %q, which registry.yaml does not list: run make generate" $.service .) -}}
{{- end -}}
{{- $bound = max $bound ($topic.partitions | int) -}}
{{- end -}}
{{- $bound -}}
{{- end -}}

{{/* The Secret holding the app's signing key: yours (auth.existingSecret) or the chart's. */}}
{{- define "leadbridge.authSecretName" -}}
{{- .Values.auth.existingSecret | default (printf "%s-auth" (include "leadbridge.fullname" .)) -}}
{{- end -}}

{{/* Where every service reads the keys that verify bearer tokens: auth.jwksUrl (an
OpenID Connect provider's), else the app's /.well-known/jwks.json (the app itself reads
its own over loopback). */}}
{{- define "leadbridge.jwksUrl" -}}
{{- $app := .root.Values.services.app -}}
{{- if .root.Values.auth.jwksUrl -}}
{{- .root.Values.auth.jwksUrl -}}
{{- else if eq .service "app" -}}
{{- printf "http://127.0.0.1:%v/.well-known/jwks.json" $app.port -}}
{{- else -}}
{{- printf "http://%s-app:%v/.well-known/jwks.json" (include "leadbridge.fullname" .root) $app.port -}}
{{- end -}}
{{- end -}}
