{{/* The release's name for its objects: the chart's name when the release is named after it. */}}
{{- define "zl.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Selects the pods; the Service's `app.kubernetes.io/name` is also the scrape job's name (the ServiceMonitor's jobLabel). */}}
{{- define "zl.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "zl.labels" -}}
{{ include "zl.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "zl.sharded" -}}
{{- if gt (int .Values.shards) 1 }}true{{ end -}}
{{- end -}}

{{/* What the pods poll: the demo fleet, the accounts file, or the one account of `credentials`, in that order. */}}
{{- define "zl.mode" -}}
{{- if .Values.demo }}demo{{ else if .Values.accounts.existingSecret }}accounts{{ else }}credentials{{ end -}}
{{- end -}}

{{/* The Secret holding the credentials: the operator's, or the one the chart creates for a trial. */}}
{{- define "zl.credentialsSecret" -}}
{{- if .Values.credentials.create -}}
{{ include "zl.fullname" . }}-credentials
{{- else -}}
{{ .Values.credentials.existingSecret }}
{{- end -}}
{{- end -}}

{{/* Every combination the values cannot express in the schema, refused with what to do. */}}
{{- define "zl.validate" -}}
{{- $c := .Values.credentials -}}
{{- if eq (include "zl.mode" .) "credentials" -}}
{{- if not (or $c.existingSecret $c.create) -}}
{{- fail "no account to poll: set credentials.existingSecret (or credentials.create for a trial), accounts.existingSecret, or demo=true" -}}
{{- end -}}
{{- if $c.create -}}
{{- if and (eq $c.type "keyPair") (or (not $c.accessKeyId) (not $c.accessKeyPassword)) -}}
{{- fail "credentials.create with type keyPair needs accessKeyId and accessKeyPassword" -}}
{{- end -}}
{{- if and (eq $c.type "token") (not $c.accessToken) -}}
{{- fail "credentials.create with type token needs accessToken" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (include "zl.sharded" .) (ne (include "zl.mode" .) "accounts") -}}
{{- fail "shards above 1 spread the accounts of an accounts file over the pods: set accounts.existingSecret" -}}
{{- end -}}
{{- if and .Values.webConfig.enabled .Values.webConfig.tls.enabled (not .Values.webConfig.tls.secretName) -}}
{{- fail "webConfig.tls.enabled needs webConfig.tls.secretName, a kubernetes.io/tls Secret" -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled .Values.webConfig.enabled .Values.webConfig.basicAuthUsers (not .Values.serviceMonitor.basicAuthSecret) -}}
{{- fail "webConfig.basicAuthUsers is set: the ServiceMonitor needs serviceMonitor.basicAuthSecret (username, password) to scrape" -}}
{{- end -}}
{{- end -}}
