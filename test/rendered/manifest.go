// Package rendered reads a rendered install (the output of `helm template` or
// `kubectl kustomize`) into objects a test can look up by kind and name and
// decode into typed Kubernetes objects. test/chart and test/kustomize share it.
package rendered

import (
	"os"
	"regexp"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Object is one rendered document: its identity and its YAML.
type Object struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	Raw        []byte
}

func (o Object) String() string { return o.Kind + "/" + o.Name }

// Manifest is a rendered stream of objects, in the order the tool wrote them.
type Manifest []Object

var documentSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// Parse splits a multi-document stream into objects, dropping documents that
// are empty or only comments.
func Parse(t *testing.T, stream string) Manifest {
	t.Helper()
	var m Manifest
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
		m = append(m, Object{
			APIVersion: head.APIVersion,
			Kind:       head.Kind,
			Name:       head.Metadata.Name,
			Namespace:  head.Metadata.Namespace,
			Raw:        []byte(doc),
		})
	}
	return m
}

// Read parses the file at path, as Parse does a stream.
func Read(t *testing.T, path string) Manifest {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return Parse(t, string(data))
}

// Find returns the object of kind and name, if there is one.
func (m Manifest) Find(kind, name string) (Object, bool) {
	for _, o := range m {
		if o.Kind == kind && o.Name == name {
			return o, true
		}
	}
	return Object{}, false
}

// Has reports whether there is an object of kind and name.
func (m Manifest) Has(kind, name string) bool {
	_, ok := m.Find(kind, name)
	return ok
}

// OfKind returns every object of kind, in order.
func (m Manifest) OfKind(kind string) []Object {
	var objs []Object
	for _, o := range m {
		if o.Kind == kind {
			objs = append(objs, o)
		}
	}
	return objs
}

// Names lists the objects as Kind/name, for failure messages.
func (m Manifest) Names() []string {
	names := make([]string, 0, len(m))
	for _, o := range m {
		names = append(names, o.String())
	}
	return names
}

// Get decodes the object of kind and name into out, strictly: a field the
// type does not know (a misspelt key) fails the test, and so does a missing
// object.
func (m Manifest) Get(t *testing.T, kind, name string, out any) {
	t.Helper()
	o, ok := m.Find(kind, name)
	if !ok {
		t.Fatalf("no %s/%s rendered; got %v", kind, name, m.Names())
	}
	DecodeStrict(t, o, out)
}

// DecodeStrict decodes o into out and fails the test on a field out does not know.
func DecodeStrict(t *testing.T, o Object, out any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(o.Raw, out); err != nil {
		t.Fatalf("decode %s: %v\n%s", o, err, o.Raw)
	}
}

// DecodeLoose decodes into a struct that names only the fields a test reads,
// for kinds outside k8s.io/api (cert-manager, Prometheus Operator).
func DecodeLoose(t *testing.T, o Object, out any) {
	t.Helper()
	if err := yaml.Unmarshal(o.Raw, out); err != nil {
		t.Fatalf("decode %s: %v\n%s", o, err, o.Raw)
	}
}

// ToYAML is for failure messages.
func ToYAML(v any) string {
	out, err := yaml.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(out)
}
