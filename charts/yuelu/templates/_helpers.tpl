{{/* Full name of the release's objects. */}}
{{- define "yuelu.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "yuelu.labels" -}}
app.kubernetes.io/name: yuelu-controller
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Labels that select the controller's pods. */}}
{{- define "yuelu.selectorLabels" -}}
app.kubernetes.io/name: yuelu-controller
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "yuelu.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "yuelu.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "yuelu.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
