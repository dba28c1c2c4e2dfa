//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/eventpipe/eventpipe/test/e2e/podrunner"
)

// healthFlag is the flag whose address serves /healthz and /readyz, in the
// manager and the worker alike.
const healthFlag = "health-probe-bind-address"

// member is one running pod of a workload, as the suite sees it.
type member struct {
	pod string
	// ready: the process answers /readyz (local), or the pod is Ready (kind).
	ready bool
	// terminating: the pod is gone or going, the process not yet.
	terminating bool
	restarts    int
	// addresses are the podrunner's rewritten listen addresses; empty on kind.
	addresses map[string]string
}

// workloads finds what runs for a set of pods: local processes started by the
// podrunner, or real pods.
type workloads interface {
	// members returns what runs for the pods in namespace with these labels.
	members(ctx context.Context, namespace string, selector map[string]string) ([]member, error)
	// logs returns the output of a pod's process or container.
	logs(ctx context.Context, namespace, pod string) (string, error)
}

// runnerWorkloads are the podrunner's processes; a process is ready when its
// /readyz answers 200, since kwok's Ready condition says nothing about it.
type runnerWorkloads struct {
	runner *podrunner.Runner
}

var probeClient = &http.Client{Timeout: 2 * time.Second}

func (w runnerWorkloads) members(
	ctx context.Context,
	namespace string,
	selector map[string]string,
) ([]member, error) {
	sel := labels.SelectorFromSet(selector)
	var out []member
	for _, p := range w.runner.Processes() {
		if p.Namespace != namespace || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		m := member{pod: p.Pod, terminating: p.Terminating, restarts: p.Restarts, addresses: p.Addresses}
		m.ready = !p.Terminating && probe(ctx, p.Addresses[healthFlag], "/readyz") == nil
		out = append(out, m)
	}
	return out, nil
}

func (w runnerWorkloads) logs(_ context.Context, namespace, pod string) (string, error) {
	return w.runner.Logs(namespace, pod)
}

// probe GETs path from a process's address and wants 200.
func probe(ctx context.Context, addr, path string) error {
	if addr == "" {
		return fmt.Errorf("no address for %s", path)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return nil
}

// kubeletWorkloads are real pods (kind): a kubelet runs them and its probes
// decide readiness.
type kubeletWorkloads struct{}

func (kubeletWorkloads) members(
	ctx context.Context,
	namespace string,
	selector map[string]string,
) ([]member, error) {
	var pods corev1.PodList
	err := env.k8s.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels(selector))
	if err != nil {
		return nil, err
	}
	var out []member
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning {
			continue
		}
		m := member{pod: p.Name, terminating: p.DeletionTimestamp != nil}
		for _, cs := range p.Status.ContainerStatuses {
			m.restarts += int(cs.RestartCount)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				m.ready = c.Status == corev1.ConditionTrue && !m.terminating
			}
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pod < out[j].pod })
	return out, nil
}

func (kubeletWorkloads) logs(ctx context.Context, namespace, pod string) (string, error) {
	b, err := env.clientset.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{}).DoRaw(ctx)
	return string(b), err
}

// counts returns how many members run and how many of them are ready.
func counts(members []member) (running, ready int) {
	for _, m := range members {
		running++
		if m.ready {
			ready++
		}
	}
	return running, ready
}
