package kustomize

import (
	"slices"
	"strings"
	"testing"

	"github.com/eventpipe/eventpipe/test/rendered"
)

// optionalGroups are the API groups whose CRDs a cluster may not have:
// config/default must not need them, or `kubectl apply -k config/default`
// fails on a cluster without cert-manager or the Prometheus Operator.
var optionalGroups = []string{"cert-manager.io", "monitoring.coreos.com"}

func TestDefaultNeedsNoOptionalCRDs(t *testing.T) {
	t.Parallel()
	m := buildConfig(t, "default")
	for _, o := range m {
		group, _, _ := strings.Cut(o.APIVersion, "/")
		if slices.Contains(optionalGroups, group) {
			t.Errorf("config/default renders %s of %s, want none of %v", o, o.APIVersion, optionalGroups)
		}
	}
	// Without a serving certificate a registered webhook would refuse every
	// EventStream and RulePack change.
	for _, kind := range []string{"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} {
		if objs := m.OfKind(kind); len(objs) != 0 {
			t.Errorf("config/default renders %v, want no %s", objs, kind)
		}
	}
	if m.Has("Service", webhookService) {
		t.Errorf("config/default renders Service %s, want it only with the webhook component", webhookService)
	}
}

func TestDefaultManagerServesNoWebhooks(t *testing.T) {
	t.Parallel()
	d, c := manager(t, buildConfig(t, "default"))
	if v, ok := argValue(c.Args, "--enable-webhooks"); ok && v != "false" {
		t.Errorf("manager args have --enable-webhooks=%s, want it absent or false: %v", v, c.Args)
	}
	if slices.Contains(c.Args, "--enable-webhooks") {
		t.Errorf("manager args have a bare --enable-webhooks, want it absent: %v", c.Args)
	}
	if v, ok := argValue(c.Args, "--webhook-cert-dir"); ok {
		t.Errorf("manager args have --webhook-cert-dir=%s, want it only with the webhook component", v)
	}
	for _, p := range c.Ports {
		if p.ContainerPort == webhookPort {
			t.Errorf("manager container has port %d (%s), want it only with the webhook component", webhookPort, p.Name)
		}
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			t.Errorf("manager pod mounts Secret %s, want no Secret volume: %s", v.Secret.SecretName, rendered.ToYAML(v))
		}
	}
}

// TestDefaultNamespace checks that every namespaced object lands in the
// namespace config/default sets, the one the docs name.
func TestDefaultNamespace(t *testing.T) {
	t.Parallel()
	m := buildConfig(t, "default")
	clusterScoped := []string{"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
	for _, o := range m {
		if slices.Contains(clusterScoped, o.Kind) {
			continue
		}
		if o.Namespace != namespace {
			t.Errorf("%s is in namespace %q, want %q", o, o.Namespace, namespace)
		}
	}
	if !m.Has("Namespace", namespace) {
		t.Errorf("config/default renders no Namespace %s; got %v", namespace, m.Names())
	}
}
