package chart

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/eventpipe/eventpipe/test/rendered"
)

const managerName = "eventpipe-manager"

// manager renders the chart with args and returns the manager Deployment and its container.
func manager(t *testing.T, args ...string) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	var d appsv1.Deployment
	render(t, args...).Get(t, "Deployment", managerName, &d)
	containers := d.Spec.Template.Spec.Containers
	if len(containers) != 1 || containers[0].Name != "manager" {
		t.Fatalf("want one container named manager, got %s", toYAML(containers))
	}
	return &d, containers[0]
}

func TestManagerDefaults(t *testing.T) {
	t.Parallel()
	d, c := manager(t)

	if got, want := c.Image, "ghcr.io/eventpipe/manager:0.1.0"; got != want {
		t.Errorf("image = %q, want %q (the chart's appVersion)", got, want)
	}
	if !slices.Equal(c.Command, []string{"/manager"}) {
		t.Errorf("command = %v, want [/manager]", c.Command)
	}
	for _, arg := range []string{
		"--kafka-bootstrap-servers=" + bootstrapServers,
		"--worker-image=ghcr.io/eventpipe/worker:0.1.0",
		"--leader-elect",
		"--leader-election-id=eventpipe-manager.eventpipe.io",
		"--leader-election-namespace=" + namespace,
		"--health-probe-bind-address=:8081",
		"--metrics-bind-address=:8443",
		"--metrics-secure=true",
		"--topic-resync-interval=5m",
		"--eventstream-concurrency=8",
		"--lag-refresh-interval=15s",
		"--zap-log-level=info",
		"--zap-encoder=json",
	} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("args lack %q: %v", arg, c.Args)
		}
	}
	absent := []string{"--kafka-config-dir", "--worker-kafka-secret", "--enable-webhooks", "--webhook-cert-dir"}
	for _, prefix := range absent {
		if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, prefix) }) {
			t.Errorf("args have %s by default: %v", prefix, c.Args)
		}
	}

	if got := *d.Spec.Replicas; got != 1 {
		t.Errorf("replicas = %d, want 1", got)
	}
	if got := d.Spec.Template.Spec.ServiceAccountName; got != managerName {
		t.Errorf("serviceAccountName = %q, want %q", got, managerName)
	}
	selector := labels.SelectorFromSet(d.Spec.Selector.MatchLabels)
	if !selector.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("selector %v does not match the pod labels %v", selector, d.Spec.Template.Labels)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe = %s, want GET /healthz", toYAML(c.LivenessProbe))
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe = %s, want GET /readyz", toYAML(c.ReadinessProbe))
	}
	if got := c.Resources.Limits[corev1.ResourceMemory]; got.Cmp(resource.MustParse("256Mi")) != 0 {
		t.Errorf("memory limit = %s, want 256Mi", got.String())
	}
	if got := c.Resources.Requests[corev1.ResourceCPU]; got.Cmp(resource.MustParse("100m")) != 0 {
		t.Errorf("cpu request = %s, want 100m", got.String())
	}
}

// TestRestrictedPodSecurity checks the fields the restricted Pod Security
// Standard requires, with every option on as well as with the defaults.
func TestRestrictedPodSecurity(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"defaults":    nil,
		"all options": {"--values", chartDir(t) + "/ci/all-options-values.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d, c := manager(t, args...)
			pod := d.Spec.Template.Spec.SecurityContext
			if pod == nil || pod.RunAsNonRoot == nil || !*pod.RunAsNonRoot {
				t.Errorf("pod securityContext.runAsNonRoot is not true: %s", toYAML(pod))
			}
			if pod == nil || pod.SeccompProfile == nil || pod.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("pod seccompProfile is not RuntimeDefault: %s", toYAML(pod))
			}
			sc := c.SecurityContext
			if sc == nil {
				t.Fatal("container has no securityContext")
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("allowPrivilegeEscalation is not false: %s", toYAML(sc))
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("readOnlyRootFilesystem is not true: %s", toYAML(sc))
			}
			if sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
				len(sc.Capabilities.Add) != 0 {
				t.Errorf("capabilities are not drop [ALL], add none: %s", toYAML(sc.Capabilities))
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Error("container is privileged")
			}
			spec := d.Spec.Template.Spec
			if spec.HostNetwork || spec.HostPID || spec.HostIPC {
				t.Error("pod shares a host namespace")
			}
			for _, v := range spec.Volumes {
				if v.HostPath != nil {
					t.Errorf("volume %s is a hostPath", v.Name)
				}
			}
		})
	}
}

func TestManagerArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		want    []string
		wantNot []string
	}{{
		name: "bootstrap servers as a list",
		args: []string{"--set", "kafka.bootstrapServers={kafka-0:9092,kafka-1:9092}"},
		want: []string{"--kafka-bootstrap-servers=kafka-0:9092,kafka-1:9092"},
	}, {
		name: "bootstrap servers as a comma-separated string",
		args: []string{"--set-string", `kafka.bootstrapServers=kafka-0:9092\,kafka-1:9092`},
		want: []string{"--kafka-bootstrap-servers=kafka-0:9092,kafka-1:9092"},
	}, {
		name: "worker image tag and repository",
		args: []string{"--set", "worker.image.repository=registry.example.com/worker", "--set", "worker.image.tag=v2"},
		want: []string{"--worker-image=registry.example.com/worker:v2"},
	}, {
		name: "worker image digest wins over tag",
		args: []string{"--set", "worker.image.tag=v2", "--set", "worker.image.digest=sha256:" + strings.Repeat("ab", 32)},
		want: []string{"--worker-image=ghcr.io/eventpipe/worker@sha256:" + strings.Repeat("ab", 32)},
	}, {
		name:    "worker Kafka secret",
		args:    []string{"--set", "worker.kafkaSecret=kafka-client"},
		want:    []string{"--worker-kafka-secret=kafka-client"},
		wantNot: []string{"--kafka-config-dir"},
	}, {
		name:    "leader election off with one replica",
		args:    []string{"--set", "leaderElection.enabled=false"},
		wantNot: []string{"--leader-elect"},
	}, {
		name: "leader election namespace and id",
		args: []string{"--set", "leaderElection.namespace=leases", "--set", "leaderElection.id=ep.example.com"},
		want: []string{"--leader-elect", "--leader-election-namespace=leases", "--leader-election-id=ep.example.com"},
	}, {
		name:    "metrics off",
		args:    []string{"--set", "metrics.enabled=false"},
		want:    []string{"--metrics-bind-address=0"},
		wantNot: []string{"--metrics-secure", "--metrics-bind-address=:"},
	}, {
		name: "plain HTTP metrics",
		args: []string{"--set", "metrics.secure=false"},
		want: []string{"--metrics-bind-address=:8443", "--metrics-secure=false"},
	}, {
		name: "controller tuning and logging",
		args: []string{
			"--set", "controller.topicResyncInterval=1m", "--set", "controller.eventStreamConcurrency=4",
			"--set", "controller.lagRefreshInterval=5s", "--set", "logLevel=debug", "--set", "logFormat=console",
		},
		want: []string{
			"--topic-resync-interval=1m", "--eventstream-concurrency=4", "--lag-refresh-interval=5s",
			"--zap-log-level=debug", "--zap-encoder=console",
		},
	}, {
		name: "extra args last",
		args: []string{"--set", "extraArgs={--zap-stacktrace-level=panic}"},
		want: []string{"--zap-stacktrace-level=panic"},
	}, {
		name: "webhook on",
		args: []string{"--set", "webhook.enabled=true"},
		want: []string{"--enable-webhooks=true", "--webhook-cert-dir=/etc/eventpipe/webhook-certs"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, c := manager(t, tt.args...)
			for _, arg := range tt.want {
				if !slices.Contains(c.Args, arg) {
					t.Errorf("args lack %q: %v", arg, c.Args)
				}
			}
			for _, prefix := range tt.wantNot {
				if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, prefix) }) {
					t.Errorf("args have %s: %v", prefix, c.Args)
				}
			}
		})
	}
}

func TestExtraArgsComeLast(t *testing.T) {
	t.Parallel()
	_, c := manager(t, "--set", "extraArgs={--zap-log-level=error}")
	if got := c.Args[len(c.Args)-1]; got != "--zap-log-level=error" {
		t.Errorf("last arg = %q, want the extra arg, so it overrides the chart's", got)
	}
}

func TestKafkaSecret(t *testing.T) {
	t.Parallel()
	t.Run("mounted when set", func(t *testing.T) {
		t.Parallel()
		d, c := manager(t, "--set", "kafka.existingSecret=kafka-client")
		if !slices.Contains(c.Args, "--kafka-config-dir=/etc/eventpipe/kafka") {
			t.Errorf("args lack --kafka-config-dir=/etc/eventpipe/kafka: %v", c.Args)
		}
		mount, ok := rendered.FindMount(c, "/etc/eventpipe/kafka")
		if !ok || !mount.ReadOnly {
			t.Fatalf("no read-only mount at /etc/eventpipe/kafka: %s", toYAML(c.VolumeMounts))
		}
		volume, ok := rendered.FindVolume(d, mount.Name)
		if !ok || volume.Secret == nil || volume.Secret.SecretName != "kafka-client" {
			t.Errorf("volume %s is not Secret kafka-client: %s", mount.Name, toYAML(volume))
		}
	})
	t.Run("absent when not set", func(t *testing.T) {
		t.Parallel()
		d, c := manager(t)
		if _, ok := rendered.FindMount(c, "/etc/eventpipe/kafka"); ok {
			t.Error("a volume is mounted at /etc/eventpipe/kafka without kafka.existingSecret")
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Secret != nil {
				t.Errorf("Secret volume %s rendered by default", v.Name)
			}
		}
	})
}

func TestPodDisruptionBudget(t *testing.T) {
	t.Parallel()
	t.Run("none with one replica", func(t *testing.T) {
		t.Parallel()
		if m := render(t); len(m.OfKind("PodDisruptionBudget")) != 0 {
			t.Error("PodDisruptionBudget rendered for one replica")
		}
	})
	t.Run("none when disabled", func(t *testing.T) {
		t.Parallel()
		m := render(t, "--set", "replicas=3", "--set", "podDisruptionBudget.enabled=false")
		if len(m.OfKind("PodDisruptionBudget")) != 0 {
			t.Error("PodDisruptionBudget rendered with podDisruptionBudget.enabled=false")
		}
	})
	t.Run("with more replicas", func(t *testing.T) {
		t.Parallel()
		m := render(t, "--set", "replicas=2")
		var pdb policyv1.PodDisruptionBudget
		m.Get(t, "PodDisruptionBudget", managerName, &pdb)
		if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
			t.Errorf("minAvailable = %v, want 1", pdb.Spec.MinAvailable)
		}
		var d appsv1.Deployment
		m.Get(t, "Deployment", managerName, &d)
		if !reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
			t.Errorf("PDB selector %v differs from the Deployment's %v",
				pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels)
		}
		if !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--leader-elect") {
			t.Error("two replicas without --leader-elect")
		}
	})
}

func TestPodPlacementAndMetadata(t *testing.T) {
	t.Parallel()
	d, c := manager(t, "--values", chartDir(t)+"/ci/all-options-values.yaml")
	spec := d.Spec.Template.Spec
	if got := spec.NodeSelector["kubernetes.io/os"]; got != "linux" {
		t.Errorf("nodeSelector = %v", spec.NodeSelector)
	}
	if len(spec.Tolerations) != 1 || spec.Tolerations[0].Key != "dedicated" {
		t.Errorf("tolerations = %s", toYAML(spec.Tolerations))
	}
	if spec.Affinity == nil || spec.Affinity.PodAntiAffinity == nil {
		t.Errorf("affinity = %s", toYAML(spec.Affinity))
	}
	if spec.PriorityClassName != "platform-critical" {
		t.Errorf("priorityClassName = %q", spec.PriorityClassName)
	}
	if len(spec.ImagePullSecrets) != 1 || spec.ImagePullSecrets[0].Name != "registry-credentials" {
		t.Errorf("imagePullSecrets = %v", spec.ImagePullSecrets)
	}
	if got := d.Spec.Template.Labels["team"]; got != "platform" {
		t.Errorf("pod labels = %v, want team=platform among them", d.Spec.Template.Labels)
	}
	if _, ok := d.Spec.Selector.MatchLabels["team"]; ok {
		t.Error("podLabels leaked into the immutable selector")
	}
	if got := d.Spec.Template.Annotations["example.com/scrape"]; got != "false" {
		t.Errorf("pod annotations = %v", d.Spec.Template.Annotations)
	}
	want := "registry.example.com/eventpipe/manager@sha256:" + strings.Repeat("0123456789abcdef", 4)
	if got := c.Image; got != want {
		t.Errorf("image = %q, want %q (digest wins over tag)", got, want)
	}
	if c.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("imagePullPolicy = %q, want Always", c.ImagePullPolicy)
	}
	if got := spec.ServiceAccountName; got != "eventpipe-controller" {
		t.Errorf("serviceAccountName = %q, want serviceAccount.name", got)
	}
}
