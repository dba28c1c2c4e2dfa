package chart

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/eventpipe/eventpipe/test/rendered"
)

const (
	webhookConfigName = "eventpipe-validating-webhook"
	webhookService    = "eventpipe-webhook"
	webhookSecret     = "eventpipe-webhook-tls"
	webhookDNSName    = webhookService + "." + namespace + ".svc"
	injectCAFrom      = "cert-manager.io/inject-ca-from"
)

func TestWebhookOffByDefault(t *testing.T) {
	t.Parallel()
	m := render(t)
	for _, kind := range []string{"ValidatingWebhookConfiguration", "Secret", "Certificate", "Issuer"} {
		if objs := m.OfKind(kind); len(objs) != 0 {
			t.Errorf("%s rendered without webhook.enabled: %v", kind, objs)
		}
	}
	if m.Has("Service", webhookService) {
		t.Error("webhook Service rendered without webhook.enabled")
	}
}

func TestWebhookSelfSigned(t *testing.T) {
	t.Parallel()
	m := render(t, "--set", "webhook.enabled=true")

	for _, kind := range []string{"Certificate", "Issuer"} {
		if objs := m.OfKind(kind); len(objs) != 0 {
			t.Errorf("%s rendered without webhook.certManager.enabled: %v", kind, objs)
		}
	}

	var secret corev1.Secret
	m.Get(t, "Secret", webhookSecret, &secret)
	if secret.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type = %q, want %q", secret.Type, corev1.SecretTypeTLS)
	}
	verifyServingCertificate(t, secret.Data)

	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	m.Get(t, "ValidatingWebhookConfiguration", webhookConfigName, &vwc)
	if len(vwc.Webhooks) == 0 {
		t.Fatal("the webhook configuration has no webhooks")
	}
	for _, w := range vwc.Webhooks {
		if !bytes.Equal(w.ClientConfig.CABundle, secret.Data["ca.crt"]) {
			t.Errorf("webhook %s: caBundle is not the Secret's ca.crt", w.Name)
		}
	}
	if _, ok := vwc.Annotations[injectCAFrom]; ok {
		t.Errorf("self-signed webhook configuration has the %s annotation", injectCAFrom)
	}

	assertWebhookWiring(t, m, &vwc)
}

// verifyServingCertificate checks that tls.crt is signed by ca.crt for the
// name the API server dials, and that tls.key is its key.
func verifyServingCertificate(t *testing.T, data map[string][]byte) {
	t.Helper()
	for _, key := range []string{"ca.crt", "tls.crt", "tls.key"} {
		if len(data[key]) == 0 {
			t.Fatalf("Secret has no %s", key)
		}
	}
	if _, err := tls.X509KeyPair(data["tls.crt"], data["tls.key"]); err != nil {
		t.Errorf("tls.crt and tls.key are not a pair: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(data["ca.crt"]) {
		t.Fatal("ca.crt holds no PEM certificate")
	}
	block, _ := pem.Decode(data["tls.crt"])
	if block == nil {
		t.Fatal("tls.crt holds no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse tls.crt: %v", err)
	}
	_, err = cert.Verify(x509.VerifyOptions{
		DNSName:   webhookDNSName,
		Roots:     roots,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		t.Errorf("tls.crt does not verify for %s against ca.crt: %v", webhookDNSName, err)
	}
}

// assertWebhookWiring follows the path of an admission request: the webhook
// configuration names the Service, the Service targets the pod's webhook port,
// and the pod mounts the certificate Secret where the manager reads it.
func assertWebhookWiring(t *testing.T, m manifest, vwc *admissionregistrationv1.ValidatingWebhookConfiguration) {
	t.Helper()
	for _, w := range vwc.Webhooks {
		svc := w.ClientConfig.Service
		if svc == nil || svc.Name != webhookService || svc.Namespace != namespace {
			t.Errorf("webhook %s: clientConfig.service = %s, want %s/%s", w.Name, toYAML(svc), namespace, webhookService)
		}
	}

	var service corev1.Service
	m.Get(t, "Service", webhookService, &service)
	ports := service.Spec.Ports
	if len(ports) != 1 || ports[0].Port != 443 || ports[0].TargetPort.String() != "webhook" {
		t.Errorf("webhook Service ports = %s, want 443 -> webhook", toYAML(service.Spec.Ports))
	}

	var d appsv1.Deployment
	m.Get(t, "Deployment", managerName, &d)
	c := d.Spec.Template.Spec.Containers[0]
	isWebhook := func(p corev1.ContainerPort) bool { return p.Name == "webhook" && p.ContainerPort == 9443 }
	if !slices.ContainsFunc(c.Ports, isWebhook) {
		t.Errorf("container ports = %s, want webhook 9443", toYAML(c.Ports))
	}
	for k, v := range service.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("webhook Service selector %v does not select the manager pods", service.Spec.Selector)
		}
	}
	mount, ok := rendered.FindMount(c, "/etc/eventpipe/webhook-certs")
	if !ok || !mount.ReadOnly {
		t.Fatalf("no read-only mount at /etc/eventpipe/webhook-certs: %s", toYAML(c.VolumeMounts))
	}
	volume, ok := rendered.FindVolume(&d, mount.Name)
	if !ok || volume.Secret == nil || volume.Secret.SecretName != webhookSecret {
		t.Errorf("volume %s is not Secret %s: %s", mount.Name, webhookSecret, toYAML(volume))
	}
}

func TestWebhookCertManager(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantIssuer certificateIssuer
		wantOwnCA  bool
	}{{
		name:       "self-signed Issuer of the chart",
		args:       nil,
		wantIssuer: certificateIssuer{name: "eventpipe-selfsigned", kind: "Issuer", group: "cert-manager.io"},
		wantOwnCA:  true,
	}, {
		name: "existing ClusterIssuer",
		args: []string{
			"--set", "webhook.certManager.issuerRef.name=cluster-ca",
			"--set", "webhook.certManager.issuerRef.kind=ClusterIssuer",
		},
		wantIssuer: certificateIssuer{name: "cluster-ca", kind: "ClusterIssuer", group: "cert-manager.io"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--set", "webhook.enabled=true", "--set", "webhook.certManager.enabled=true"}, tt.args...)
			m := render(t, args...)

			if m.Has("Secret", webhookSecret) {
				t.Error("the chart renders the certificate Secret although cert-manager writes it")
			}
			issuers := m.OfKind("Issuer")
			if tt.wantOwnCA != (len(issuers) == 1) {
				t.Fatalf("Issuers = %v; want the chart's own self-signed one: %v", issuers, tt.wantOwnCA)
			}
			if tt.wantOwnCA {
				var iss rendered.Issuer
				decodeLoose(t, issuers[0], &iss)
				if iss.Metadata.Name != tt.wantIssuer.name || iss.Spec.SelfSigned == nil {
					t.Errorf("Issuer = %s, want self-signed %s", issuers[0].Raw, tt.wantIssuer.name)
				}
			}

			certs := m.OfKind("Certificate")
			if len(certs) != 1 {
				t.Fatalf("Certificates = %v, want one", certs)
			}
			var cert rendered.Certificate
			decodeLoose(t, certs[0], &cert)
			if cert.Spec.SecretName != webhookSecret {
				t.Errorf("Certificate secretName = %q, want %q (the Secret the pod mounts)", cert.Spec.SecretName, webhookSecret)
			}
			if !slices.Contains(cert.Spec.DNSNames, webhookDNSName) {
				t.Errorf("Certificate dnsNames = %v, want %s among them", cert.Spec.DNSNames, webhookDNSName)
			}
			got := certificateIssuer{cert.Spec.IssuerRef.Name, cert.Spec.IssuerRef.Kind, cert.Spec.IssuerRef.Group}
			if got != tt.wantIssuer {
				t.Errorf("Certificate issuerRef = %+v, want %+v", got, tt.wantIssuer)
			}

			var vwc admissionregistrationv1.ValidatingWebhookConfiguration
			m.Get(t, "ValidatingWebhookConfiguration", webhookConfigName, &vwc)
			if got, want := vwc.Annotations[injectCAFrom], namespace+"/"+cert.Metadata.Name; got != want {
				t.Errorf("annotation %s = %q, want %q", injectCAFrom, got, want)
			}
			for _, w := range vwc.Webhooks {
				if len(w.ClientConfig.CABundle) != 0 {
					t.Errorf("webhook %s has a caBundle the cainjector would fight over", w.Name)
				}
			}
			assertWebhookWiring(t, m, &vwc)
		})
	}
}

type certificateIssuer struct{ name, kind, group string }

// TestWebhookMatchesGenerated compares the chart's webhooks with the ones
// controller-gen writes from the +kubebuilder:webhook markers, so a new or
// changed webhook in the code fails here until the chart follows.
func TestWebhookMatchesGenerated(t *testing.T) {
	t.Parallel()
	generated := readManifest(t, filepath.Join(rendered.RepoRoot(t), "config", "webhook", "manifests.yaml"))
	var want admissionregistrationv1.ValidatingWebhookConfiguration
	wantObjs := generated.OfKind("ValidatingWebhookConfiguration")
	if len(wantObjs) != 1 {
		t.Fatalf("config/webhook/manifests.yaml has %d ValidatingWebhookConfigurations, want 1", len(wantObjs))
	}
	decodeStrict(t, wantObjs[0], &want)
	if objs := generated.OfKind("MutatingWebhookConfiguration"); len(objs) != 0 {
		t.Errorf("config/webhook/manifests.yaml has mutating webhooks the chart does not render: %v", objs)
	}

	var got admissionregistrationv1.ValidatingWebhookConfiguration
	render(t, "--set", "webhook.enabled=true").Get(t, "ValidatingWebhookConfiguration", webhookConfigName, &got)

	if len(got.Webhooks) != len(want.Webhooks) {
		t.Fatalf("chart has %d webhooks, config/webhook/manifests.yaml %d", len(got.Webhooks), len(want.Webhooks))
	}
	for i, w := range want.Webhooks {
		g := got.Webhooks[i]
		if g.Name != w.Name {
			t.Errorf("webhook %d is %q, want %q", i, g.Name, w.Name)
			continue
		}
		if g.ClientConfig.Service == nil || w.ClientConfig.Service == nil ||
			!reflect.DeepEqual(g.ClientConfig.Service.Path, w.ClientConfig.Service.Path) {
			t.Errorf("webhook %s: path differs: chart %s, generated %s", w.Name, toYAML(g.ClientConfig), toYAML(w.ClientConfig))
		}
		for field, pair := range map[string][2]any{
			"rules":                   {g.Rules, w.Rules},
			"admissionReviewVersions": {g.AdmissionReviewVersions, w.AdmissionReviewVersions},
			"sideEffects":             {g.SideEffects, w.SideEffects},
			"failurePolicy":           {g.FailurePolicy, w.FailurePolicy},
			"matchPolicy":             {g.MatchPolicy, w.MatchPolicy},
			"namespaceSelector":       {g.NamespaceSelector, w.NamespaceSelector},
			"objectSelector":          {g.ObjectSelector, w.ObjectSelector},
			"matchConditions":         {g.MatchConditions, w.MatchConditions},
		} {
			if !reflect.DeepEqual(pair[0], pair[1]) {
				t.Errorf("webhook %s: %s differs:\nchart:\n%s\ngenerated:\n%s", w.Name, field, toYAML(pair[0]), toYAML(pair[1]))
			}
		}
	}
}

func TestWebhookFailurePolicy(t *testing.T) {
	t.Parallel()
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	render(t, "--set", "webhook.enabled=true", "--set", "webhook.failurePolicy=Ignore",
		"--set", "webhook.timeoutSeconds=3").
		Get(t, "ValidatingWebhookConfiguration", webhookConfigName, &vwc)
	for _, w := range vwc.Webhooks {
		if w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Ignore {
			t.Errorf("webhook %s: failurePolicy = %v, want Ignore", w.Name, w.FailurePolicy)
		}
		if w.TimeoutSeconds == nil || *w.TimeoutSeconds != 3 {
			t.Errorf("webhook %s: timeoutSeconds = %v, want 3", w.Name, w.TimeoutSeconds)
		}
	}
}
