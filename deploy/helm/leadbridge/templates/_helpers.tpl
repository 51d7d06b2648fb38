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

{{/* The consumer group of a service: shared.consumer.group_id (a test holds them equal). */}}
{{- define "leadbridge.consumerGroup" -}}
{{- printf "%sleadbridge-%s" .root.Values.topicPrefix .service -}}
{{- end -}}

{{/* How many replicas can share a service's work: its largest topic's partition count. */}}
{{- define "leadbridge.partitionBound" -}}
{{- $bound := 0 -}}
{{- range .svc.consumes -}}
{{- $partitions := index $.root.Values.topics.partitions . | default 0 | int -}}
{{- if not $partitions -}}
{{- fail (printf "services.%s.consumes names %q, which has no entry in topics.partitions" $.service .) -}}
{{- end -}}
{{- $bound = max $bound $partitions -}}
{{- end -}}
{{- $bound -}}
{{- end -}}
