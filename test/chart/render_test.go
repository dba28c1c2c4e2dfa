package chart

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventpipe/eventpipe/test/rendered"
)

const (
	// releaseName and namespace are chosen so the chart's object names equal
	// those of config/ (eventpipe-manager, ...), which the drift tests compare.
	releaseName = "eventpipe"
	namespace   = "eventpipe-system"
	// bootstrapServers is the one value without a default.
	bootstrapServers = "kafka.kafka.svc:9092"
)

func chartDir(t *testing.T) string {
	return filepath.Join(rendered.RepoRoot(t), "charts", "eventpipe")
}

// helmBinary is $HELM or bin/helm. A missing helm fails the test rather than
// skipping it: the chart must never go untested.
func helmBinary(t *testing.T) string {
	t.Helper()
	helm := os.Getenv("HELM")
	if helm == "" {
		helm = filepath.Join(rendered.RepoRoot(t), "bin", "helm")
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

// object and manifest are the shared types of test/rendered, under the short
// names these tests have always used.
type (
	object   = rendered.Object
	manifest = rendered.Manifest
)

func parseManifest(t *testing.T, stream string) manifest {
	t.Helper()
	return rendered.Parse(t, stream)
}

func readManifest(t *testing.T, path string) manifest {
	t.Helper()
	return rendered.Read(t, path)
}

func decodeStrict(t *testing.T, o object, out any) {
	t.Helper()
	rendered.DecodeStrict(t, o, out)
}

func decodeLoose(t *testing.T, o object, out any) {
	t.Helper()
	rendered.DecodeLoose(t, o, out)
}

func toYAML(v any) string { return rendered.ToYAML(v) }
