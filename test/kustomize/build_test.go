package kustomize

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/eventpipe/eventpipe/test/rendered"
)

const (
	namespace   = "eventpipe-system"
	managerName = "eventpipe-manager"
)

// kubectlBinary is $KUBECTL. Unlike bin/helm for test/chart, kubectl is built
// with all of Kubernetes, so these tests do not look for it on their own.
func kubectlBinary(t *testing.T) string {
	t.Helper()
	kubectl := os.Getenv("KUBECTL")
	if kubectl == "" {
		t.Skip("KUBECTL is not set: run `make test-kustomize`, or set KUBECTL to a kubectl binary")
	}
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("KUBECTL=%s: %v; run `make kubectl` to link bin/kubectl", kubectl, err)
	}
	return kubectl
}

// build runs `kubectl kustomize` on dir and parses its output.
func build(t *testing.T, dir string) rendered.Manifest {
	t.Helper()
	cmd := exec.Command(kubectlBinary(t), "kustomize", dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl kustomize %s: %v: %s", dir, err, strings.TrimSpace(stderr.String()))
	}
	return rendered.Parse(t, stdout.String())
}

// buildConfig builds a directory of config/, given relative to it.
func buildConfig(t *testing.T, dir string) rendered.Manifest {
	t.Helper()
	return build(t, filepath.Join(rendered.RepoRoot(t), "config", dir))
}

// buildInNamespace copies config/ into a temporary directory, puts a base
// that moves config/default to ns beside it, and builds an overlay on that
// base with components (directories of config/, such as "webhook"). It is
// the layout config/default documents for another namespace.
func buildInNamespace(t *testing.T, ns string, components ...string) rendered.Manifest {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "config"), os.DirFS(filepath.Join(rendered.RepoRoot(t), "config"))); err != nil {
		t.Fatalf("copy config/: %v", err)
	}
	writeKustomization(t, filepath.Join(dir, "base"),
		"kind: Kustomization\nnamespace: "+ns+"\nresources:\n- ../config/default\n")
	overlay := "kind: Kustomization\nresources:\n- ../base\ncomponents:\n"
	for _, c := range components {
		overlay += "- ../config/" + c + "\n"
	}
	writeKustomization(t, filepath.Join(dir, "overlay"), overlay)
	return build(t, filepath.Join(dir, "overlay"))
}

func writeKustomization(t *testing.T, dir, body string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create %s: %v", dir, err)
	}
	content := "apiVersion: kustomize.config.k8s.io/v1beta1\n" + body
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(content), 0o644); err != nil {
		t.Fatalf("write %s: %v", dir, err)
	}
}

// manager returns the manager Deployment and its one container.
func manager(t *testing.T, m rendered.Manifest) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	var d appsv1.Deployment
	m.Get(t, "Deployment", managerName, &d)
	containers := d.Spec.Template.Spec.Containers
	if len(containers) != 1 || containers[0].Name != "manager" {
		t.Fatalf("want one container named manager, got %s", rendered.ToYAML(containers))
	}
	return &d, containers[0]
}

// services decodes every Service of m.
func services(t *testing.T, m rendered.Manifest) []corev1.Service {
	t.Helper()
	var svcs []corev1.Service
	for _, o := range m.OfKind("Service") {
		var svc corev1.Service
		rendered.DecodeStrict(t, o, &svc)
		svcs = append(svcs, svc)
	}
	return svcs
}

// selects reports whether every key of selector has its value in labels.
func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// argValue returns the value of --flag=value among args.
func argValue(args []string, flag string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v, true
		}
	}
	return "", false
}
