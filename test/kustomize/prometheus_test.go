package kustomize

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/eventpipe/eventpipe/test/rendered"
)

const (
	metricsService = "eventpipe-manager-metrics"
	metricsReader  = "eventpipe-metrics-reader"
	// tokenFile is where Prometheus finds its own ServiceAccount token.
	tokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
)

func TestServiceMonitor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		build     func(t *testing.T) rendered.Manifest
		namespace string
	}{{
		name:      "example overlay",
		build:     func(t *testing.T) rendered.Manifest { return buildConfig(t, "overlays/prometheus") },
		namespace: namespace,
	}, {
		// The webhook Service is there too, and must not be scraped.
		name: "namespace set in a base, with the webhook",
		build: func(t *testing.T) rendered.Manifest {
			return buildInNamespace(t, "team-y", "webhook", "certmanager", "prometheus")
		},
		namespace: "team-y",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := tt.build(t)
			monitors := m.OfKind("ServiceMonitor")
			if len(monitors) != 1 {
				t.Fatalf("ServiceMonitors = %v, want one", monitors)
			}
			var sm rendered.ServiceMonitor
			rendered.DecodeLoose(t, monitors[0], &sm)
			svc := assertMonitorSelectsMetrics(t, m, &sm, tt.namespace)
			assertEndpointMatchesManager(t, m, &sm, svc)
		})
	}
}

// assertMonitorSelectsMetrics checks that the ServiceMonitor finds exactly the
// metrics Service, by its labels and in its namespace, and returns it.
func assertMonitorSelectsMetrics(
	t *testing.T, m rendered.Manifest, sm *rendered.ServiceMonitor, ns string,
) corev1.Service {
	t.Helper()
	if len(sm.Spec.Selector.MatchExpressions) != 0 {
		t.Errorf("ServiceMonitor selector has matchExpressions %v, want matchLabels only",
			sm.Spec.Selector.MatchExpressions)
	}
	if len(sm.Spec.Selector.MatchLabels) == 0 {
		t.Fatal("ServiceMonitor selector has no matchLabels, want the metrics Service's labels")
	}
	// Without a namespaceSelector the Prometheus Operator looks only in the
	// ServiceMonitor's own namespace.
	searched := []string{sm.Metadata.Namespace}
	if sm.Spec.NamespaceSelector != nil {
		searched = sm.Spec.NamespaceSelector.MatchNames
	}
	var selected []string
	var metrics corev1.Service
	for _, svc := range services(t, m) {
		if slices.Contains(searched, svc.Namespace) && selects(sm.Spec.Selector.MatchLabels, svc.Labels) {
			selected = append(selected, svc.Namespace+"/"+svc.Name)
			metrics = svc
		}
	}
	if want := []string{ns + "/" + metricsService}; !slices.Equal(selected, want) {
		t.Fatalf("the ServiceMonitor (selector %v, namespaces %v) selects Services %v, want %v",
			sm.Spec.Selector.MatchLabels, searched, selected, want)
	}
	return metrics
}

// assertEndpointMatchesManager checks the endpoint against how the manager
// serves metrics: the port is the metrics Service's and reaches the manager's
// metrics port, and with --metrics-secure (the default) the scrape is HTTPS
// with a bearer token the manager can review, and a reader role exists.
func assertEndpointMatchesManager(t *testing.T, m rendered.Manifest, sm *rendered.ServiceMonitor, svc corev1.Service) {
	t.Helper()
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints = %s, want one", rendered.ToYAML(sm.Spec.Endpoints))
	}
	ep := sm.Spec.Endpoints[0]
	i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port })
	if i < 0 {
		t.Fatalf("endpoint port %q names no port of Service %s: %s", ep.Port, svc.Name, rendered.ToYAML(svc.Spec.Ports))
	}
	_, c := manager(t, m)
	target := svc.Spec.Ports[i].TargetPort.String()
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == target }) {
		t.Errorf("Service %s port %q targets %q, which names no manager container port: %s",
			svc.Name, ep.Port, target, rendered.ToYAML(c.Ports))
	}
	if ep.Path != "/metrics" {
		t.Errorf("endpoint path = %q, want /metrics", ep.Path)
	}
	if v, ok := argValue(c.Args, "--metrics-secure"); ok && v != "true" {
		t.Fatalf("manager has --metrics-secure=%s; this test knows only the HTTPS default", v)
	}
	if ep.Scheme != "https" {
		t.Errorf("endpoint scheme = %q, want https: the manager serves metrics over TLS", ep.Scheme)
	}
	if ep.BearerTokenFile != tokenFile {
		t.Errorf("endpoint bearerTokenFile = %q, want %s: the manager lets in only reviewed tokens",
			ep.BearerTokenFile, tokenFile)
	}
	if ep.TLSConfig == nil || !ep.TLSConfig.InsecureSkipVerify {
		t.Errorf("endpoint tlsConfig = %+v, want insecureSkipVerify: the manager's certificate is self-signed at start",
			ep.TLSConfig)
	}
	var reader rbacv1.ClusterRole
	m.Get(t, "ClusterRole", metricsReader, &reader)
	if !slices.ContainsFunc(reader.Rules, func(r rbacv1.PolicyRule) bool {
		return slices.Contains(r.NonResourceURLs, "/metrics") && slices.Contains(r.Verbs, "get")
	}) {
		t.Errorf("ClusterRole %s = %s, want get on /metrics for the scraper", metricsReader, rendered.ToYAML(reader.Rules))
	}
}
