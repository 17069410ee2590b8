{{/* Names, labels and the pieces shared by the worker pods and the topics job. */}}

{{- define "streamrouter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "streamrouter.fullname" -}}
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

{{- define "streamrouter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "streamrouter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "streamrouter.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "streamrouter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "streamrouter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "streamrouter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "streamrouter.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Faust's broker URL: kafka://host1:9092;kafka://host2:9092 */}}
{{- define "streamrouter.brokerUrl" -}}
{{- $urls := list }}
{{- range .Values.kafka.brokers }}
{{- $urls = append $urls (printf "kafka://%s" .) }}
{{- end }}
{{- join ";" $urls }}
{{- end }}

{{- define "streamrouter.bootstrapServers" -}}
{{- join "," .Values.kafka.brokers }}
{{- end }}

{{- define "streamrouter.usesSasl" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}true{{ end }}
{{- end }}

{{- define "streamrouter.usesTls" -}}
{{- if has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") }}true{{ end }}
{{- end }}

{{- define "streamrouter.anthropicSecretName" -}}
{{- if .Values.anthropic.apiKey }}
{{- printf "%s-anthropic" (include "streamrouter.fullname" .) }}
{{- else }}
{{- .Values.anthropic.existingSecret }}
{{- end }}
{{- end }}

{{- define "streamrouter.anthropicSecretKey" -}}
{{- if .Values.anthropic.apiKey }}api-key{{ else }}{{ .Values.anthropic.existingSecretKey }}{{ end }}
{{- end }}

{{- define "streamrouter.saslSecretName" -}}
{{- if .Values.kafka.sasl.existingSecret }}
{{- .Values.kafka.sasl.existingSecret }}
{{- else }}
{{- printf "%s-kafka-sasl" (include "streamrouter.fullname" .) }}
{{- end }}
{{- end }}

{{- define "streamrouter.saslSecretKey" -}}
{{- if .Values.kafka.sasl.existingSecret }}{{ .Values.kafka.sasl.existingSecretPasswordKey }}{{ else }}password{{ end }}
{{- end }}

{{- define "streamrouter.tlsMountPath" -}}/etc/streamrouter/kafka-tls{{- end }}
{{- define "streamrouter.configMountPath" -}}/etc/streamrouter/config{{- end }}

{{- define "streamrouter.terminationGracePeriodSeconds" -}}
{{- $drain := int .Values.config.drainTimeoutSeconds }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $drain 15 }}
{{- else }}
{{- $grace := int .Values.terminationGracePeriodSeconds }}
{{- if le $grace $drain }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed config.drainTimeoutSeconds (%d): Kubernetes kills the worker when the grace period ends" $grace $drain) }}
{{- end }}
{{- $grace }}
{{- end }}
{{- end }}

{{/*
Checks across values that the schema cannot express; rendered (empty) by every
manifest that depends on them.
*/}}
{{- define "streamrouter.validate" -}}
{{- $kafka := .Values.kafka }}
{{- if include "streamrouter.usesSasl" . }}
{{- if not $kafka.sasl.mechanism }}
{{- fail (printf "kafka.securityProtocol %s needs kafka.sasl.mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)" $kafka.securityProtocol) }}
{{- end }}
{{- if not $kafka.sasl.username }}
{{- fail (printf "kafka.securityProtocol %s needs kafka.sasl.username" $kafka.securityProtocol) }}
{{- end }}
{{- if not (or $kafka.sasl.existingSecret $kafka.sasl.password) }}
{{- fail (printf "kafka.securityProtocol %s needs kafka.sasl.existingSecret (or kafka.sasl.password)" $kafka.securityProtocol) }}
{{- end }}
{{- else if or $kafka.sasl.mechanism $kafka.sasl.username $kafka.sasl.password $kafka.sasl.existingSecret }}
{{- fail (printf "kafka.sasl is set but kafka.securityProtocol is %s (use SASL_SSL or SASL_PLAINTEXT)" $kafka.securityProtocol) }}
{{- end }}
{{- if and $kafka.tls.existingSecret (not (include "streamrouter.usesTls" .)) }}
{{- fail (printf "kafka.tls.existingSecret is set but kafka.securityProtocol is %s (use SSL or SASL_SSL)" $kafka.securityProtocol) }}
{{- end }}
{{- if ne (empty $kafka.tls.certKey) (empty $kafka.tls.keyKey) }}
{{- fail "kafka.tls.certKey and kafka.tls.keyKey go together (mutual TLS)" }}
{{- end }}
{{- if and (or $kafka.tls.certKey $kafka.tls.keyKey) (not $kafka.tls.existingSecret) }}
{{- fail "kafka.tls.certKey/keyKey need kafka.tls.existingSecret" }}
{{- end }}
{{- if not (or .Values.anthropic.apiKey .Values.anthropic.existingSecret) }}
{{- fail "set anthropic.existingSecret (a Secret holding ANTHROPIC_API_KEY) or anthropic.apiKey" }}
{{- end }}
{{- if and .Values.autoscaling.keda.enabled .Values.autoscaling.hpa.enabled }}
{{- fail "enable one autoscaler: autoscaling.keda or autoscaling.hpa" }}
{{- end }}
{{- end }}

{{/*
The environment of the workers and of the topics job: (dict "root" $ "hook" bool).
The hook job reads the hook-scoped copy of a chart-created SASL password Secret.
*/}}
{{- define "streamrouter.env" -}}
{{- $root := .root }}
{{- with $root -}}
- name: STREAMROUTER_BROKER
  value: {{ include "streamrouter.brokerUrl" . | quote }}
- name: STREAMROUTER_APP_ID
  value: {{ .Values.config.appId | quote }}
- name: STREAMROUTER_TOPIC_PREFIX
  value: {{ .Values.config.topicPrefix | quote }}
- name: STREAMROUTER_PARTITIONS
  value: {{ .Values.config.partitions | quote }}
- name: STREAMROUTER_REPLICATION_FACTOR
  value: {{ .Values.config.replicationFactor | quote }}
{{- if not (kindIs "invalid" .Values.config.resultsRetentionMs) }}
- name: STREAMROUTER_RESULTS_RETENTION_MS
  value: {{ .Values.config.resultsRetentionMs | int64 | quote }}
{{- end }}
{{- if not (kindIs "invalid" .Values.config.dlqRetentionMs) }}
- name: STREAMROUTER_DLQ_RETENTION_MS
  value: {{ .Values.config.dlqRetentionMs | int64 | quote }}
{{- end }}
- name: STREAMROUTER_MAX_IN_FLIGHT
  value: {{ .Values.config.maxInFlight | quote }}
- name: STREAMROUTER_DRAIN_TIMEOUT_S
  value: {{ .Values.config.drainTimeoutSeconds | quote }}
- name: STREAMROUTER_WEB_PORT
  value: {{ .Values.config.webPort | quote }}
- name: STREAMROUTER_DATA_DIR
  value: /var/lib/streamrouter/data
- name: STREAMROUTER_POLICY_FILE
  value: {{ include "streamrouter.configMountPath" . }}/policy.yaml
{{- if .Values.prices }}
- name: STREAMROUTER_PRICES_FILE
  value: {{ include "streamrouter.configMountPath" . }}/prices.yaml
{{- end }}
- name: STREAMROUTER_KAFKA_SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
{{- if include "streamrouter.usesSasl" . }}
- name: STREAMROUTER_KAFKA_SASL_MECHANISM
  value: {{ .Values.kafka.sasl.mechanism | quote }}
- name: STREAMROUTER_KAFKA_SASL_USERNAME
  value: {{ .Values.kafka.sasl.username | quote }}
- name: STREAMROUTER_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "streamrouter.saslSecretName" . }}{{ if and $.hook (not .Values.kafka.sasl.existingSecret) }}-topics{{ end }}
      key: {{ include "streamrouter.saslSecretKey" . }}
{{- end }}
{{- with .Values.kafka.tls }}
{{- if and .existingSecret .caKey }}
- name: STREAMROUTER_KAFKA_SSL_CAFILE
  value: {{ include "streamrouter.tlsMountPath" $root }}/{{ .caKey }}
{{- end }}
{{- if and .existingSecret .certKey }}
- name: STREAMROUTER_KAFKA_SSL_CERTFILE
  value: {{ include "streamrouter.tlsMountPath" $root }}/{{ .certKey }}
- name: STREAMROUTER_KAFKA_SSL_KEYFILE
  value: {{ include "streamrouter.tlsMountPath" $root }}/{{ .keyKey }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- end }}

{{/* Volumes (and their mounts) every streamrouter container needs. */}}
{{- define "streamrouter.volumes" -}}
- name: config
  configMap:
    name: {{ .configMap }}
{{- if .root.Values.kafka.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ .root.Values.kafka.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
- name: data
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- end }}

{{- define "streamrouter.volumeMounts" -}}
- name: config
  mountPath: {{ include "streamrouter.configMountPath" . }}
  readOnly: true
{{- if .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: {{ include "streamrouter.tlsMountPath" . }}
  readOnly: true
{{- end }}
- name: data
  mountPath: /var/lib/streamrouter
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* The `streamrouter topics create` container: (dict "root" $ "hook" bool). */}}
{{- define "streamrouter.topicsContainer" -}}
{{- $hook := .hook }}
{{- with .root -}}
name: topics
image: {{ include "streamrouter.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
command: [streamrouter]
args: [topics, create, --wait, {{ .Values.topics.waitSeconds | quote }}]
env:
{{- include "streamrouter.env" (dict "root" . "hook" $hook) | nindent 2 }}
volumeMounts:
{{- include "streamrouter.volumeMounts" . | nindent 2 }}
{{- with .Values.securityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
resources:
  requests:
    cpu: 50m
    memory: 128Mi
  limits:
    memory: 256Mi
{{- end }}
{{- end }}

{{- define "streamrouter.configData" -}}
policy.yaml: |
  {{- toYaml .Values.policy | nindent 2 }}
{{- with .Values.prices }}
prices.yaml: |
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
