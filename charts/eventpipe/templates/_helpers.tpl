{{/*
Names, labels and the values derived from more than one key. Every object name
starts with eventpipe.fullname, so a release named "eventpipe" gets the same
names as `kubectl apply -k config/default` (eventpipe-manager, ...).
*/}}

{{- define "eventpipe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "eventpipe.fullname" -}}
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

{{/* The name of the manager's Deployment, ClusterRole and bindings. */}}
{{- define "eventpipe.managerName" -}}
{{- printf "%s-manager" (include "eventpipe.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "eventpipe.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "eventpipe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: eventpipe
{{- end }}

{{/* Labels of the manager's objects. */}}
{{- define "eventpipe.managerLabels" -}}
{{ include "eventpipe.labels" . }}
app.kubernetes.io/component: manager
{{- end }}

{{/* The labels that select the manager pods; never change them (the selector is immutable). */}}
{{- define "eventpipe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "eventpipe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{- define "eventpipe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "eventpipe.managerName" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false: name the existing ServiceAccount the manager runs as" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
An image reference from {repository, tag, digest}: the digest wins, then the
tag, then the chart's appVersion. Call with (list .Values.image .Chart.AppVersion).
*/}}
{{- define "eventpipe.image" -}}
{{- $image := index . 0 }}
{{- $appVersion := index . 1 }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default $appVersion $image.tag) }}
{{- end }}
{{- end }}

{{/* The brokers as the comma-separated list --kafka-bootstrap-servers takes. */}}
{{- define "eventpipe.bootstrapServers" -}}
{{- $servers := required "kafka.bootstrapServers is required: the host:port list of your Kafka brokers, for example --set kafka.bootstrapServers=kafka.kafka.svc:9092" .Values.kafka.bootstrapServers }}
{{- if kindIs "slice" $servers }}
{{- join "," $servers }}
{{- else }}
{{- $servers }}
{{- end }}
{{- end }}

{{- define "eventpipe.leaderElectionNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace }}
{{- end }}

{{- define "eventpipe.leaderElectionID" -}}
{{- default (printf "%s.eventpipe.io" (include "eventpipe.managerName" .)) .Values.leaderElection.id }}
{{- end }}

{{- define "eventpipe.webhookServiceName" -}}
{{- printf "%s-webhook" (include "eventpipe.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "eventpipe.webhookSecretName" -}}
{{- printf "%s-webhook-tls" (include "eventpipe.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "eventpipe.webhookCertificateName" -}}
{{- printf "%s-webhook" (include "eventpipe.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The names the webhook's serving certificate must hold, as the API server dials the Service. */}}
{{- define "eventpipe.webhookDNSNames" -}}
{{- $svc := include "eventpipe.webhookServiceName" . }}
{{- list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) | toJson }}
{{- end }}

{{/*
Combinations of values that the schema cannot refuse on its own. Included by
the Deployment, which every install renders.
*/}}
{{- define "eventpipe.validate" -}}
{{- if and (not .Values.leaderElection.enabled) (gt (int .Values.replicas) 1) }}
{{- fail "leaderElection.enabled=false needs replicas: 1: without a leader, every replica would reconcile the same topics and Deployments at once" }}
{{- end }}
{{- if and .Values.webhook.certManager.enabled (not .Values.webhook.enabled) }}
{{- fail "webhook.certManager.enabled=true needs webhook.enabled=true: there is no webhook to issue a certificate for" }}
{{- end }}
{{- if and .Values.monitoring.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "monitoring.serviceMonitor.enabled=true needs metrics.enabled=true: there is no metrics endpoint to scrape" }}
{{- end }}
{{- with .Values.webhook.certManager.issuerRef }}
{{- if not .name }}
{{- fail "webhook.certManager.issuerRef.name is required when issuerRef is set: name the Issuer or ClusterIssuer" }}
{{- end }}
{{- end }}
{{- end }}
