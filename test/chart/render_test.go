package chart

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const (
	// releaseName and namespace are chosen so the chart's object names equal
	// those of config/ (eventpipe-manager, ...), which the drift tests compare.
	releaseName = "eventpipe"
	namespace   = "eventpipe-system"
	// bootstrapServers is the one value without a default.
	bootstrapServers = "kafka.kafka.svc:9092"
)

// repoRoot is the module root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatalf("find the repository root: %v", err)
	}
	return root
}

func chartDir(t *testing.T) string {
	return filepath.Join(repoRoot(t), "charts", "eventpipe")
}

// helmBinary is $HELM or bin/helm. A missing helm fails the test rather than
// skipping it: the chart must never go untested.
func helmBinary(t *testing.T) string {
	t.Helper()
	helm := os.Getenv("HELM")
	if helm == "" {
		helm = filepath.Join(repoRoot(t), "bin", "helm")
	}
	if _, err := os.Stat(helm); err != nil {
		t.Fatalf("helm not found at %s (%v): run `make helm` to build it, or set HELM", helm, err)
	}
	return helm
}

// helmTemplate runs `helm template` on the chart with args and returns its
// output; the error carries helm's stderr.
func helmTemplate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmdArgs := append([]string{"template", releaseName, chartDir(t), "--namespace", namespace}, args...)
	cmd := exec.Command(helmBinary(t), cmdArgs...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", errors.New(strings.TrimSpace(stderr.String()) + " (" + err.Error() + ")")
	}
	return stdout.String(), nil
}

// render renders the chart with the required bootstrap servers plus args
// (--set, --values, ...) and fails the test if helm does.
func render(t *testing.T, args ...string) manifest {
	t.Helper()
	out, err := helmTemplate(t, append([]string{"--set", "kafka.bootstrapServers=" + bootstrapServers}, args...)...)
	if err != nil {
		t.Fatalf("helm template %s: %v", strings.Join(args, " "), err)
	}
	return parseManifest(t, out)
}

// renderError renders the chart with exactly args and returns helm's error
// message, failing the test if helm succeeds.
func renderError(t *testing.T, args ...string) string {
	t.Helper()
	out, err := helmTemplate(t, args...)
	if err == nil {
		t.Fatalf("helm template %s succeeded, want an error; rendered:\n%s", strings.Join(args, " "), out)
	}
	return err.Error()
}

// object is one rendered document: its identity and its YAML.
type object struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	raw        []byte
}

func (o object) String() string { return o.Kind + "/" + o.Name }

// manifest is the rendered chart, in helm's order.
type manifest []object

var documentSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// parseManifest splits a multi-document stream into objects, dropping
// documents that are empty or only comments.
func parseManifest(t *testing.T, stream string) manifest {
	t.Helper()
	var m manifest
	for _, doc := range documentSeparator.Split(stream, -1) {
		var head struct {
			metav1.TypeMeta `json:",inline"`
			Metadata        metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("parse rendered document: %v\n%s", err, doc)
		}
		if head.Kind == "" {
			continue
		}
		m = append(m, object{
			APIVersion: head.APIVersion,
			Kind:       head.Kind,
			Name:       head.Metadata.Name,
			Namespace:  head.Metadata.Namespace,
			raw:        []byte(doc),
		})
	}
	return m
}

func readManifest(t *testing.T, path string) manifest {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return parseManifest(t, string(data))
}

func (m manifest) find(kind, name string) (object, bool) {
	for _, o := range m {
		if o.Kind == kind && o.Name == name {
			return o, true
		}
	}
	return object{}, false
}

func (m manifest) ofKind(kind string) []object {
	var objs []object
	for _, o := range m {
		if o.Kind == kind {
			objs = append(objs, o)
		}
	}
	return objs
}

func (m manifest) names() []string {
	names := make([]string, 0, len(m))
	for _, o := range m {
		names = append(names, o.String())
	}
	return names
}

// get decodes the object of kind and name into out, strictly: a field the
// type does not know (a misspelt key in a template) fails the test.
func (m manifest) get(t *testing.T, kind, name string, out any) {
	t.Helper()
	o, ok := m.find(kind, name)
	if !ok {
		t.Fatalf("no %s/%s rendered; got %v", kind, name, m.names())
	}
	decodeStrict(t, o, out)
}

func decodeStrict(t *testing.T, o object, out any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(o.raw, out); err != nil {
		t.Fatalf("decode %s: %v\n%s", o, err, o.raw)
	}
}

// decodeLoose decodes into a struct that names only the fields a test reads,
// for kinds outside k8s.io/api (cert-manager, Prometheus Operator).
func decodeLoose(t *testing.T, o object, out any) {
	t.Helper()
	if err := yaml.Unmarshal(o.raw, out); err != nil {
		t.Fatalf("decode %s: %v\n%s", o, err, o.raw)
	}
}

func (m manifest) has(kind, name string) bool {
	_, ok := m.find(kind, name)
	return ok
}

// toYAML is for failure messages.
func toYAML(v any) string {
	out, err := yaml.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(out)
}
