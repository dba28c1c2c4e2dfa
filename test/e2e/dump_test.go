//go:build e2e

package e2e

import (
	"context"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// workerLogLines is how much of each worker's log a failure dump shows; the
// manager's log is shown whole.
const workerLogLines = 120

// dumpOnFailure registers, in the calling container, a dump of what explains
// a failed spec: the manager's and the workers' logs, every event, and the
// eventpipe objects, Deployments, Pods and HPAs of the namespaces.
func dumpOnFailure(namespaces ...func() string) {
	AfterEach(func() {
		if !CurrentSpecReport().Failed() {
			return
		}
		nss := []string{env.releaseNS}
		for _, ns := range namespaces {
			if n := ns(); n != "" {
				nss = append(nss, n)
			}
		}
		dump(nss)
	})
}

func dump(namespaces []string) {
	w := GinkgoWriter
	w.Printf("\n===== failure dump for namespaces %v =====\n", namespaces)
	for _, ns := range namespaces {
		dumpLogs(ns)
	}
	if out, err := kubectl("get", "events", "-A", "--sort-by=.metadata.creationTimestamp"); err == nil {
		w.Printf("----- events -----\n%s", out)
	}
	for _, ns := range namespaces {
		out, err := kubectl("-n", ns, "get",
			"eventstreams,consumers,autoscalepolicies,rulepacks,deployments,pods,horizontalpodautoscalers",
			"-o", "yaml")
		if err == nil {
			w.Printf("----- objects in %s -----\n%s", ns, out)
		}
	}
	w.Printf("===== end of failure dump =====\n")
}

// dumpLogs prints the log of every pod of the namespace that ran, the
// podrunner's stopped processes included.
func dumpLogs(namespace string) {
	pods := map[string]bool{}
	if env.runner != nil {
		for _, p := range env.runner.All() {
			if p.Namespace == namespace {
				pods[p.Pod] = true
			}
		}
	} else {
		var list corev1.PodList
		if err := env.k8s.List(context.Background(), &list, client.InNamespace(namespace)); err == nil {
			for _, p := range list.Items {
				pods[p.Name] = true
			}
		}
	}
	for pod := range pods {
		log, err := env.workloads.logs(context.Background(), namespace, pod)
		if err != nil {
			GinkgoWriter.Printf("----- no log of %s/%s: %v\n", namespace, pod, err)
			continue
		}
		if !strings.Contains(pod, "manager") {
			log = tail(log, workerLogLines)
		}
		GinkgoWriter.Printf("----- log of %s/%s -----\n%s\n", namespace, pod, log)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) <= n {
		return s
	}
	return "[...]\n" + strings.Join(lines[len(lines)-n:], "\n")
}
