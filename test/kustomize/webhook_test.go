package kustomize

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/eventpipe/eventpipe/test/rendered"
)

const (
	webhookService = "eventpipe-webhook"
	webhookPort    = 9443
	// defaultSecret is the Secret the webhook component mounts when no
	// Certificate names another.
	defaultSecret = "eventpipe-webhook-tls"
	injectCAFrom  = "cert-manager.io/inject-ca-from"
)

// placeholders are the values in config/ that a replacement must overwrite;
// one left in the output is a replacement that matched nothing.
var placeholders = []string{"SERVICE_NAME", "SERVICE_NAMESPACE", "CERTIFICATE_NAME", "CERTIFICATE_NAMESPACE",
	"namespace: system", "name: webhook-service", "validating-webhook-configuration"}

func TestWebhookCertManager(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		build     func(t *testing.T) rendered.Manifest
		namespace string
	}{{
		name:      "example overlay",
		build:     func(t *testing.T) rendered.Manifest { return buildConfig(t, "overlays/webhook-certmanager") },
		namespace: namespace,
	}, {
		name:      "namespace set in a base",
		build:     func(t *testing.T) rendered.Manifest { return buildInNamespace(t, "team-x", "webhook", "certmanager") },
		namespace: "team-x",
	}, {
		name: "with the prometheus component too",
		build: func(t *testing.T) rendered.Manifest {
			return buildInNamespace(t, "team-y", "webhook", "certmanager", "prometheus")
		},
		namespace: "team-y",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := tt.build(t)
			assertNoPlaceholders(t, m)
			svc := assertWebhookService(t, m, tt.namespace)
			cert := assertCertificate(t, m, svc)
			for _, vwc := range webhookConfigurations(t, m) {
				if got, want := vwc.Annotations[injectCAFrom], cert.Metadata.Namespace+"/"+cert.Metadata.Name; got != want {
					t.Errorf("%s: annotation %s = %q, want %q (the Certificate)", vwc.Name, injectCAFrom, got, want)
				}
				for _, w := range vwc.Webhooks {
					if len(w.ClientConfig.CABundle) != 0 {
						t.Errorf("webhook %s has a caBundle, want none: the cainjector writes it", w.Name)
					}
				}
			}
			assertManagerServesWebhooks(t, m, cert.Spec.SecretName)
		})
	}
}

// TestWebhookWithoutCertManager checks the webhook component alone: the
// manager mounts the Secret the docs tell a user to create, and nothing asks
// for cert-manager.
func TestWebhookWithoutCertManager(t *testing.T) {
	t.Parallel()
	m := buildInNamespace(t, "team-z", "webhook")
	assertNoPlaceholders(t, m)
	for _, o := range m {
		if strings.HasPrefix(o.APIVersion, "cert-manager.io/") {
			t.Errorf("the webhook component alone renders %s of %s, want no cert-manager object", o, o.APIVersion)
		}
	}
	assertWebhookService(t, m, "team-z")
	for _, vwc := range webhookConfigurations(t, m) {
		if v, ok := vwc.Annotations[injectCAFrom]; ok {
			t.Errorf("%s: annotation %s = %q without the certmanager component, want none", vwc.Name, injectCAFrom, v)
		}
	}
	assertManagerServesWebhooks(t, m, defaultSecret)
}

// TestWebhooksMatchGenerated checks that the component serves the webhooks
// controller-gen wrote, unchanged but for where they are sent.
func TestWebhooksMatchGenerated(t *testing.T) {
	t.Parallel()
	generated := rendered.Read(t, filepath.Join(rendered.RepoRoot(t), "config", "webhook", "manifests.yaml"))
	var want []admissionregistrationv1.ValidatingWebhook
	for _, o := range generated.OfKind("ValidatingWebhookConfiguration") {
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		rendered.DecodeStrict(t, o, &vwc)
		want = append(want, vwc.Webhooks...)
	}
	if len(want) == 0 {
		t.Fatal("config/webhook/manifests.yaml has no validating webhooks, want the EventStream and RulePack ones")
	}
	var got []admissionregistrationv1.ValidatingWebhook
	for _, vwc := range webhookConfigurations(t, buildConfig(t, "overlays/webhook-certmanager")) {
		got = append(got, vwc.Webhooks...)
	}
	if len(got) != len(want) {
		t.Fatalf("the overlay has %d webhooks, config/webhook/manifests.yaml %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		// Only the Service reference may differ: the replacements fill it in.
		g.ClientConfig.Service.Name, g.ClientConfig.Service.Namespace = "", ""
		w.ClientConfig.Service.Name, w.ClientConfig.Service.Namespace = "", ""
		if !reflect.DeepEqual(g, w) {
			t.Errorf("webhook %d differs from the generated one:\noverlay:\n%s\ngenerated:\n%s",
				i, rendered.ToYAML(g), rendered.ToYAML(w))
		}
	}
}

func assertNoPlaceholders(t *testing.T, m rendered.Manifest) {
	t.Helper()
	for _, o := range m {
		for _, p := range placeholders {
			if strings.Contains(string(o.Raw), p) {
				t.Errorf("%s still holds the placeholder %q, want it replaced:\n%s", o, p, o.Raw)
			}
		}
	}
}

// webhookConfigurations decodes every ValidatingWebhookConfiguration of m and
// fails the test when there is none.
func webhookConfigurations(t *testing.T, m rendered.Manifest) []admissionregistrationv1.ValidatingWebhookConfiguration {
	t.Helper()
	objs := m.OfKind("ValidatingWebhookConfiguration")
	if len(objs) == 0 {
		t.Fatalf("no ValidatingWebhookConfiguration rendered; got %v", m.Names())
	}
	vwcs := make([]admissionregistrationv1.ValidatingWebhookConfiguration, len(objs))
	for i, o := range objs {
		rendered.DecodeStrict(t, o, &vwcs[i])
		if len(vwcs[i].Webhooks) == 0 {
			t.Errorf("%s has no webhooks", o)
		}
	}
	return vwcs
}

// assertWebhookService follows every webhook's clientConfig.service to a
// rendered Service in ns, on a port that reaches the manager's webhook
// server, and returns that Service.
func assertWebhookService(t *testing.T, m rendered.Manifest, ns string) corev1.Service {
	t.Helper()
	var svc corev1.Service
	m.Get(t, "Service", webhookService, &svc)
	if svc.Namespace != ns {
		t.Errorf("Service %s is in namespace %q, want %q", svc.Name, svc.Namespace, ns)
	}
	d, c := manager(t, m)
	if !selects(svc.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("Service %s selector %v does not select the manager pod labels %v",
			svc.Name, svc.Spec.Selector, d.Spec.Template.Labels)
	}
	for _, vwc := range webhookConfigurations(t, m) {
		for _, w := range vwc.Webhooks {
			ref := w.ClientConfig.Service
			if ref == nil {
				t.Errorf("webhook %s has no clientConfig.service, want %s/%s", w.Name, ns, svc.Name)
				continue
			}
			if ref.Name != svc.Name || ref.Namespace != svc.Namespace {
				t.Errorf("webhook %s calls Service %s/%s, want %s/%s", w.Name, ref.Namespace, ref.Name, svc.Namespace, svc.Name)
			}
			// The API server dials 443 when the port is not set.
			port := int32(443)
			if ref.Port != nil {
				port = *ref.Port
			}
			i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == port })
			if i < 0 {
				t.Errorf("webhook %s calls port %d, which Service %s does not have: %s",
					w.Name, port, svc.Name, rendered.ToYAML(svc.Spec.Ports))
				continue
			}
			target := svc.Spec.Ports[i].TargetPort.String()
			if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
				return p.Name == target && p.ContainerPort == webhookPort
			}) {
				t.Errorf("Service %s port %d targets %q, want the manager's container port %d; container ports: %s",
					svc.Name, port, target, webhookPort, rendered.ToYAML(c.Ports))
			}
		}
	}
	return svc
}

// assertCertificate checks the one Certificate: in the Service's namespace,
// for the names the API server dials, from a self-signed Issuer rendered
// beside it.
func assertCertificate(t *testing.T, m rendered.Manifest, svc corev1.Service) rendered.Certificate {
	t.Helper()
	certs := m.OfKind("Certificate")
	if len(certs) != 1 {
		t.Fatalf("Certificates = %v, want one", certs)
	}
	var cert rendered.Certificate
	rendered.DecodeLoose(t, certs[0], &cert)
	if cert.Metadata.Namespace != svc.Namespace {
		t.Errorf("Certificate is in namespace %q, want the webhook Service's %q", cert.Metadata.Namespace, svc.Namespace)
	}
	host := svc.Name + "." + svc.Namespace + ".svc"
	if want := []string{host, host + ".cluster.local"}; !slices.Equal(cert.Spec.DNSNames, want) {
		t.Errorf("Certificate dnsNames = %v, want %v", cert.Spec.DNSNames, want)
	}
	if cert.Spec.SecretName == "" {
		t.Error("Certificate has no secretName, want the Secret the manager mounts")
	}
	if cert.Spec.IssuerRef.Kind != "Issuer" {
		t.Fatalf("Certificate issuerRef kind = %q, want Issuer (the component's own)", cert.Spec.IssuerRef.Kind)
	}
	o, ok := m.Find("Issuer", cert.Spec.IssuerRef.Name)
	if !ok {
		t.Fatalf("no Issuer %s rendered, which the Certificate names; got %v", cert.Spec.IssuerRef.Name, m.Names())
	}
	var iss rendered.Issuer
	rendered.DecodeLoose(t, o, &iss)
	if iss.Metadata.Namespace != cert.Metadata.Namespace || iss.Spec.SelfSigned == nil {
		t.Errorf("Issuer %s = %s, want a self-signed Issuer in namespace %s", o.Name, o.Raw, cert.Metadata.Namespace)
	}
	return cert
}

// assertManagerServesWebhooks checks the manager's flags, its webhook port and
// the read-only mount of secretName where --webhook-cert-dir points.
func assertManagerServesWebhooks(t *testing.T, m rendered.Manifest, secretName string) {
	t.Helper()
	d, c := manager(t, m)
	if !slices.Contains(c.Args, "--enable-webhooks=true") {
		t.Errorf("manager args lack --enable-webhooks=true: %v", c.Args)
	}
	dir, ok := argValue(c.Args, "--webhook-cert-dir")
	if !ok || dir == "" {
		t.Fatalf("manager args lack --webhook-cert-dir=<dir>: %v", c.Args)
	}
	mount, ok := rendered.FindMount(c, dir)
	if !ok || !mount.ReadOnly {
		t.Fatalf("no read-only mount at %s (--webhook-cert-dir): %s", dir, rendered.ToYAML(c.VolumeMounts))
	}
	volume, ok := rendered.FindVolume(d, mount.Name)
	if !ok || volume.Secret == nil || volume.Secret.SecretName != secretName {
		t.Errorf("volume %s = %s, want Secret %s", mount.Name, rendered.ToYAML(volume), secretName)
	}
}
