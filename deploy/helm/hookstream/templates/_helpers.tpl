{{/* The release's name for its objects, at most 63 characters. */}}
{{- define "hookstream.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hookstream.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "hookstream.labels" -}}
{{ include "hookstream.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "hookstream.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "hookstream.fullname" .) -}}
{{- end -}}

{{/* The consumer group of the input topics, as hookstream names it. */}}
{{- define "hookstream.group" -}}
{{- dig "kafka" "group" "hookstream" .Values.config -}}
{{- end -}}

{{/* hookstream.yaml: config, with the admin API (and the gateway) on
every interface and the shutdown timeout. */}}
{{- define "hookstream.config" -}}
{{- $c := deepCopy .Values.config -}}
{{- $admin := dict "addr" (printf "0.0.0.0:%d" (int .Values.service.port)) -}}
{{- $_ := set $c "admin" (merge $admin (get $c "admin" | default dict)) -}}
{{- if .Values.gateway.enabled -}}
{{- $_ := set $c "gateway" (merge (dict "addr" (printf "0.0.0.0:%d" (int .Values.gateway.port))) (get $c "gateway" | default dict)) -}}
{{- end -}}
{{- $_ := set $c "shutdown_timeout" (printf "%ds" (int .Values.shutdownTimeoutSeconds)) -}}
{{- toYaml $c -}}
{{- end -}}

{{/* Values that cannot work fail the rendering, saying why. */}}
{{- define "hookstream.validate" -}}
{{- if not (dig "kafka" "brokers" list .Values.config) -}}
{{- fail "config.kafka.brokers: set the Kafka brokers (host:port); hookstream has nothing to consume from" -}}
{{- end -}}
{{- if and (not .Values.secrets.existingSecret) (not .Values.secrets.adminTokens) -}}
{{- fail "secrets.adminTokens: the admin API listens beyond loopback and needs at least one token (make one with: hookstream token), or name a Secret in secrets.existingSecret" -}}
{{- end -}}
{{- if and (not .Values.secrets.existingSecret) (not .Values.secrets.redisURL) (not (dig "redis" "sentinel" "" .Values.config)) (not (dig "redis" "cluster" "" .Values.config)) -}}
{{- fail "secrets.redisURL: set the Redis URL (or name a Secret in secrets.existingSecret, or set config.redis.sentinel or config.redis.cluster)" -}}
{{- end -}}
{{- if lt (int .Values.inputPartitions) 1 -}}
{{- fail "inputPartitions: give the input topics' partition count" -}}
{{- end -}}
{{- if and (not .Values.keda.enabled) (gt (int .Values.replicas) (int .Values.inputPartitions)) -}}
{{- fail (printf "replicas: %d exceeds inputPartitions (%d); a worker beyond the partition count owns no partition and sits idle" (int .Values.replicas) (int .Values.inputPartitions)) -}}
{{- end -}}
{{- if .Values.keda.enabled -}}
{{- if gt (int .Values.keda.maxReplicaCount) (int .Values.inputPartitions) -}}
{{- fail (printf "keda.maxReplicaCount: %d exceeds inputPartitions (%d); replicas beyond the partition count own no partition and do nothing" (int .Values.keda.maxReplicaCount) (int .Values.inputPartitions)) -}}
{{- end -}}
{{- if gt (int .Values.keda.minReplicaCount) (int .Values.keda.maxReplicaCount) -}}
{{- fail "keda.minReplicaCount: exceeds keda.maxReplicaCount" -}}
{{- end -}}
{{- end -}}
{{- end -}}
