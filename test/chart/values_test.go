package chart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/eventpipe/eventpipe/test/rendered"
)

// TestInvalidValuesFail checks that a wrong value stops `helm template` (and
// so `helm install`) with a message that names the key.
func TestInvalidValuesFail(t *testing.T) {
	t.Parallel()
	servers := "kafka.bootstrapServers=" + bootstrapServers
	tests := []struct {
		name string
		args []string
		want []string
	}{{
		name: "missing kafka.bootstrapServers",
		args: nil,
		want: []string{"'/kafka'", "missing property 'bootstrapServers'"},
	}, {
		name: "missing kafka.bootstrapServers without the schema",
		args: []string{"--skip-schema-validation"},
		want: []string{"kafka.bootstrapServers is required"},
	}, {
		name: "empty kafka.bootstrapServers",
		args: []string{"--set", "kafka.bootstrapServers="},
		want: []string{"'/kafka/bootstrapServers'"},
	}, {
		name: "bootstrap server without a port",
		args: []string{"--set", "kafka.bootstrapServers=kafka.kafka.svc"},
		want: []string{"'/kafka/bootstrapServers'", "does not match pattern"},
	}, {
		name: "bootstrap server list entry without a port",
		args: []string{"--set", "kafka.bootstrapServers={kafka-0:9092,kafka-1}"},
		want: []string{"'/kafka/bootstrapServers/1'"},
	}, {
		name: "replicas not a number",
		args: []string{"--set", servers, "--set-string", "replicas=two"},
		want: []string{"'/replicas'", "want integer"},
	}, {
		name: "negative replicas",
		args: []string{"--set", servers, "--set", "replicas=-1"},
		want: []string{"'/replicas'"},
	}, {
		name: "unknown top-level key",
		args: []string{"--set", servers, "--set", "replicaCount=2"},
		want: []string{"additional properties 'replicaCount' not allowed"},
	}, {
		name: "misspelt nested key",
		args: []string{"--set", servers, "--set", "kafka.existingSecert=kafka-client"},
		want: []string{"'/kafka'", "additional properties 'existingSecert' not allowed"},
	}, {
		name: "log level outside the enum",
		args: []string{"--set", servers, "--set", "logLevel=verbose"},
		want: []string{"'/logLevel'"},
	}, {
		name: "duration that Go cannot parse",
		args: []string{"--set", servers, "--set-string", "controller.lagRefreshInterval=fast"},
		want: []string{"'/controller/lagRefreshInterval'"},
	}, {
		name: "zero concurrency",
		args: []string{"--set", servers, "--set", "controller.eventStreamConcurrency=0"},
		want: []string{"'/controller/eventStreamConcurrency'"},
	}, {
		name: "webhook failure policy outside the enum",
		args: []string{"--set", servers, "--set", "webhook.failurePolicy=Reject"},
		want: []string{"'/webhook/failurePolicy'"},
	}, {
		name: "webhook timeout above the API server's limit",
		args: []string{"--set", servers, "--set", "webhook.timeoutSeconds=60"},
		want: []string{"'/webhook/timeoutSeconds'"},
	}, {
		name: "image digest that is not one",
		args: []string{"--set", servers, "--set", "image.digest=latest"},
		want: []string{"'/image/digest'"},
	}, {
		name: "issuer kind outside the enum",
		args: []string{"--set", servers, "--set", "webhook.certManager.issuerRef.kind=Vault"},
		want: []string{"'/webhook/certManager/issuerRef/kind'"},
	}, {
		name: "extra arg that is not a flag",
		args: []string{"--set", servers, "--set", "extraArgs={verbose}"},
		want: []string{"'/extraArgs/0'"},
	}, {
		name: "several replicas without leader election",
		args: []string{"--set", servers, "--set", "replicas=2", "--set", "leaderElection.enabled=false"},
		want: []string{"leaderElection.enabled=false needs replicas: 1"},
	}, {
		name: "cert-manager without the webhook",
		args: []string{"--set", servers, "--set", "webhook.certManager.enabled=true"},
		want: []string{"webhook.certManager.enabled=true needs webhook.enabled=true"},
	}, {
		name: "issuerRef without a name",
		args: []string{
			"--set", servers, "--set", "webhook.enabled=true", "--set", "webhook.certManager.enabled=true",
			"--set", "webhook.certManager.issuerRef.kind=ClusterIssuer",
		},
		want: []string{"webhook.certManager.issuerRef.name is required"},
	}, {
		name: "ServiceMonitor without metrics",
		args: []string{"--set", servers, "--set", "metrics.enabled=false", "--set", "monitoring.serviceMonitor.enabled=true"},
		want: []string{"monitoring.serviceMonitor.enabled=true needs metrics.enabled=true"},
	}, {
		name: "existing ServiceAccount without a name",
		args: []string{"--set", servers, "--set", "serviceAccount.create=false"},
		want: []string{"serviceAccount.name is required"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := renderError(t, tt.args...)
			for _, want := range tt.want {
				if !strings.Contains(msg, want) {
					t.Errorf("error does not contain %q:\n%s", want, msg)
				}
			}
		})
	}
}

// TestAllOptionsRenderValidObjects renders every option at once and decodes
// each object strictly into its Kubernetes type, so a misspelt field in any
// template fails; kinds from other projects must be the expected ones.
func TestAllOptionsRenderValidObjects(t *testing.T) {
	t.Parallel()
	m := render(t, "--values", filepath.Join(chartDir(t), "ci", "all-options-values.yaml"))
	typed := map[string]func() any{
		"Deployment":                     func() any { return &appsv1.Deployment{} },
		"Service":                        func() any { return &corev1.Service{} },
		"ServiceAccount":                 func() any { return &corev1.ServiceAccount{} },
		"Secret":                         func() any { return &corev1.Secret{} },
		"ClusterRole":                    func() any { return &rbacv1.ClusterRole{} },
		"ClusterRoleBinding":             func() any { return &rbacv1.ClusterRoleBinding{} },
		"Role":                           func() any { return &rbacv1.Role{} },
		"RoleBinding":                    func() any { return &rbacv1.RoleBinding{} },
		"ValidatingWebhookConfiguration": func() any { return &admissionregistrationv1.ValidatingWebhookConfiguration{} },
		"NetworkPolicy":                  func() any { return &networkingv1.NetworkPolicy{} },
		"PodDisruptionBudget":            func() any { return &policyv1.PodDisruptionBudget{} },
	}
	foreign := map[string]string{
		"Certificate":    "cert-manager.io/v1",
		"Issuer":         "cert-manager.io/v1",
		"ServiceMonitor": "monitoring.coreos.com/v1",
	}
	seen := map[string]bool{}
	for _, o := range m {
		seen[o.Kind] = true
		if o.Name == "" {
			t.Errorf("%s has no name", o)
		}
		if newObj, ok := typed[o.Kind]; ok {
			decodeStrict(t, o, newObj())
			continue
		}
		if want, ok := foreign[o.Kind]; !ok || o.APIVersion != want {
			t.Errorf("unexpected %s %s", o.APIVersion, o)
		}
	}
	// The all-options file switches on everything but the chart's own Issuer
	// (it names a ClusterIssuer) and the self-signed Secret (cert-manager).
	for _, kind := range []string{"Deployment", "NetworkPolicy", "PodDisruptionBudget", "ServiceMonitor", "Certificate",
		"ValidatingWebhookConfiguration", "Role"} {
		if !seen[kind] {
			t.Errorf("all options render no %s", kind)
		}
	}
}

// TestCRDsShip checks that the chart installs a CRD for every generated one.
// Their content is compared by `make verify-chart-crds`.
func TestCRDsShip(t *testing.T) {
	t.Parallel()
	m := render(t, "--include-crds")
	generated, err := filepath.Glob(filepath.Join(rendered.RepoRoot(t), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(generated) == 0 {
		t.Fatalf("list config/crd/bases: %v (%d files)", err, len(generated))
	}
	for _, file := range generated {
		for _, want := range readManifest(t, file) {
			var crd apiextensionsv1.CustomResourceDefinition
			m.Get(t, "CustomResourceDefinition", want.Name, &crd)
			if crd.Spec.Group != "eventpipe.io" {
				t.Errorf("CRD %s has group %q", crd.Name, crd.Spec.Group)
			}
		}
	}
}

// TestValuesDocumented checks that every key of values.yaml has a comment
// right above it (or above its parent's first child), so `helm show values`
// explains itself.
func TestValuesDocumented(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(chartDir(t), "values.yaml"))
	if err != nil {
		t.Fatalf("read values.yaml: %v", err)
	}
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, "-") {
			continue
		}
		if !strings.Contains(trimmed, ":") || strings.HasSuffix(trimmed, ":") {
			continue // a parent: its children carry the documentation
		}
		if i > 0 && strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#") {
			continue
		}
		if parentDocumented(lines, i) {
			continue
		}
		t.Errorf("values.yaml:%d: %q has no comment above it", i+1, trimmed)
	}
}

// parentDocumented reports whether line i is a child of a map (resources:
// requests: cpu) whose nearest documented ancestor carries the description.
func parentDocumented(lines []string, i int) bool {
	indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
	for j := i - 1; j >= 0 && indent > 0; j-- {
		l := lines[j]
		ind := len(l) - len(strings.TrimLeft(l, " "))
		if strings.TrimSpace(l) == "" || ind >= indent {
			continue
		}
		if strings.HasSuffix(strings.TrimSpace(l), ":") && j > 0 && strings.HasPrefix(strings.TrimSpace(lines[j-1]), "#") {
			return true
		}
		indent = ind
	}
	return false
}
