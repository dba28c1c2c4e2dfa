package chart

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/eventpipe/eventpipe/test/rendered"
)

const (
	metricsService = "eventpipe-manager-metrics"
	policyName     = "eventpipe-manager"
)

func TestMetricsService(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantPort string
	}{
		{name: "HTTPS by default", wantPort: "https"},
		{name: "plain HTTP", args: []string{"--set", "metrics.secure=false"}, wantPort: "http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := render(t, tt.args...)
			var svc corev1.Service
			m.Get(t, "Service", metricsService, &svc)
			if len(svc.Spec.Ports) != 1 {
				t.Fatalf("ports = %s, want one", toYAML(svc.Spec.Ports))
			}
			p := svc.Spec.Ports[0]
			if p.Name != tt.wantPort || p.Port != 8443 || p.TargetPort != intstr.FromString("metrics") {
				t.Errorf("port = %s, want %s 8443 -> metrics", toYAML(p), tt.wantPort)
			}
			_, c := manager(t, tt.args...)
			if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool {
				return cp.Name == "metrics" && cp.ContainerPort == 8443
			}) {
				t.Errorf("container ports = %s, want metrics 8443", toYAML(c.Ports))
			}
			if len(m.OfKind("ServiceMonitor")) != 0 {
				t.Error("ServiceMonitor rendered without monitoring.serviceMonitor.enabled")
			}
		})
	}
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		if m := render(t, "--set", "metrics.enabled=false"); m.Has("Service", metricsService) {
			t.Error("metrics Service rendered with metrics.enabled=false")
		}
	})
}

func TestServiceMonitor(t *testing.T) {
	t.Parallel()
	m := render(t, "--set", "monitoring.serviceMonitor.enabled=true",
		"--set", "monitoring.serviceMonitor.labels.release=prom",
		"--set", "webhook.enabled=true")
	monitors := m.OfKind("ServiceMonitor")
	if len(monitors) != 1 {
		t.Fatalf("ServiceMonitors = %v, want one", monitors)
	}
	var sm rendered.ServiceMonitor
	decodeLoose(t, monitors[0], &sm)
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("endpoints = %s, want one", monitors[0].Raw)
	}
	ep := sm.Spec.Endpoints[0]
	if ep.Port != "https" || ep.Scheme != "https" || ep.Interval != "30s" || ep.TLSConfig == nil {
		t.Errorf("endpoint = %+v, want https on port https every 30s with a tlsConfig", ep)
	}
	var selected []string
	for _, o := range m.OfKind("Service") {
		var svc corev1.Service
		decodeStrict(t, o, &svc)
		if labelsMatch(sm.Spec.Selector.MatchLabels, svc.Labels) {
			selected = append(selected, svc.Name)
		}
	}
	if !slices.Equal(selected, []string{metricsService}) {
		t.Errorf("the ServiceMonitor selects Services %v, want only %s", selected, metricsService)
	}
	if sm.Metadata.Labels["release"] != "prom" {
		t.Errorf("ServiceMonitor labels = %v, want release=prom among them", sm.Metadata.Labels)
	}
}

func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestNetworkPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		args      []string
		wantPorts []string
	}{
		{name: "metrics only", args: nil, wantPorts: []string{"metrics"}},
		{name: "metrics and webhook", args: []string{"--set", "webhook.enabled=true"},
			wantPorts: []string{"metrics", "webhook"}},
		{name: "webhook only", args: []string{"--set", "webhook.enabled=true", "--set", "metrics.enabled=false"},
			wantPorts: []string{"webhook"}},
		{name: "nothing served", args: []string{"--set", "metrics.enabled=false"}, wantPorts: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := render(t, append([]string{"--set", "networkPolicy.enabled=true"}, tt.args...)...)
			var np networkingv1.NetworkPolicy
			m.Get(t, "NetworkPolicy", policyName, &np)

			var ports []string
			for _, rule := range np.Spec.Ingress {
				for _, p := range rule.Ports {
					ports = append(ports, p.Port.String())
				}
			}
			if !slices.Equal(ports, tt.wantPorts) {
				t.Errorf("ingress ports = %v, want %v", ports, tt.wantPorts)
			}
			wantTypes := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
			if !slices.Equal(np.Spec.PolicyTypes, wantTypes) {
				t.Errorf("policyTypes = %v, want %v", np.Spec.PolicyTypes, wantTypes)
			}
			if len(np.Spec.Egress) != 1 || len(np.Spec.Egress[0].To) != 0 || len(np.Spec.Egress[0].Ports) != 0 {
				t.Errorf("egress = %s, want one rule allowing everything", toYAML(np.Spec.Egress))
			}

			var d appsv1.Deployment
			m.Get(t, "Deployment", managerName, &d)
			if !labelsMatch(np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) {
				t.Errorf("podSelector %v does not select the manager pods %v",
					np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels)
			}
			c := d.Spec.Template.Spec.Containers[0]
			for _, name := range ports {
				if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == name }) {
					t.Errorf("the policy opens port %q, which the manager container does not name", name)
				}
			}
		})
	}
	t.Run("off by default", func(t *testing.T) {
		t.Parallel()
		if objs := render(t).OfKind("NetworkPolicy"); len(objs) != 0 {
			t.Errorf("NetworkPolicy rendered by default: %v", objs)
		}
	})
	t.Run("sources", func(t *testing.T) {
		t.Parallel()
		m := render(t, "--values", chartDir(t)+"/ci/all-options-values.yaml")
		var np networkingv1.NetworkPolicy
		m.Get(t, "NetworkPolicy", policyName, &np)
		in := np.Spec.Ingress
		if len(in) != 2 || len(in[0].From) != 1 || in[0].From[0].NamespaceSelector == nil ||
			len(in[1].From) != 1 || in[1].From[0].IPBlock == nil {
			t.Errorf("ingress = %s, want metricsFrom and webhookFrom as the sources", toYAML(np.Spec.Ingress))
		}
	})
}
