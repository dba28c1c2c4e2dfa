package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/test/e2e/podrunner"
)

// Images of eventpipe, as the chart names them, and the USER of both Dockerfiles.
const (
	managerRepository = "ghcr.io/eventpipe/manager"
	workerRepository  = "ghcr.io/eventpipe/worker"
	imageUser         = 65532
	consumerLabel     = "eventpipe.io/consumer"
)

// Named waits.
const (
	streamsTimeout = 3 * time.Minute
	poll           = 500 * time.Millisecond
)

// cluster holds the clients of the demo's control plane.
type cluster struct {
	rest      *rest.Config
	k8s       client.Client
	clientset kubernetes.Interface
	runner    *podrunner.Runner
}

func newCluster(kubeconfig string) (*cluster, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig %s: %w", kubeconfig, err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("register Kubernetes types: %w", err)
	}
	if err := eventpipev1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("register eventpipe types: %w", err)
	}
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create clientset: %w", err)
	}
	return &cluster{rest: cfg, k8s: k8s, clientset: cs}, nil
}

// startPodRunner runs the manager's and the workers' pods as local processes,
// from a clean directory that is kept after the run for a post-mortem.
func (d *demo) startPodRunner(ctx context.Context) error {
	host, port, err := podrunner.APIServerAddress(d.cluster.rest)
	if err != nil {
		return fmt.Errorf("find the API server address: %w", err)
	}
	dir := filepath.Join(d.cfg.workDir, "podrunner")
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear %s: %w", dir, err)
	}
	images := map[string]podrunner.Image{}
	for repo, binary := range map[string]string{managerRepository: "manager", workerRepository: "worker"} {
		staged, err := podrunner.Stage(filepath.Join(d.cfg.binDir, binary), filepath.Join(dir, "images"))
		if err != nil {
			return err
		}
		images[repo] = podrunner.Image{Binary: staged, User: imageUser, Group: imageUser}
	}
	r, err := podrunner.New(podrunner.Config{
		Client:        d.cluster.clientset,
		APIServerHost: host,
		APIServerPort: port,
		Images:        images,
		Dir:           dir,
		Log:           d.log.WithName("podrunner"),
	})
	if err != nil {
		return fmt.Errorf("create the pod runner: %w", err)
	}
	// The runner watches with a context of its own, so it outlives ctx and
	// Stop ends its processes during cleanup.
	if err := r.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start the pod runner: %w", err)
	}
	d.cluster.runner = r
	d.onCleanup("Stopping the manager and worker processes", func() error { r.Stop(); return nil })
	return nil
}

// waitStreams waits until every EventStream of the demo is Ready and has its topic.
func (d *demo) waitStreams(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, streamsTimeout)
	defer cancel()
	want := []string{streamOrders, streamRouted, streamDLQ, streamCommands}
	for {
		topics, err := d.cluster.readyTopics(ctx, want)
		if err == nil {
			d.stats.topics = topics
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the EventStreams to become Ready: %w", err)
		case <-time.After(poll):
		}
	}
}

// readyTopics returns the topic of each named stream, or an error naming the
// first that is not Ready yet.
func (c *cluster) readyTopics(ctx context.Context, names []string) (map[string]string, error) {
	topics := map[string]string{}
	for _, name := range names {
		s := &eventpipev1alpha1.EventStream{}
		if err := c.k8s.Get(ctx, client.ObjectKey{Namespace: demoNamespace, Name: name}, s); err != nil {
			return nil, fmt.Errorf("get EventStream %s: %w", name, err)
		}
		if !isReady(s.Status.Conditions) || s.Status.TopicName == "" {
			return nil, fmt.Errorf("EventStream %s is not Ready", name)
		}
		topics[name] = s.Status.TopicName
	}
	return topics, nil
}

// workers counts the running worker processes of a Consumer.
func (c *cluster) workers(consumer string) int {
	n := 0
	for _, p := range c.runner.Processes() {
		if p.Namespace == demoNamespace && p.Labels[consumerLabel] == consumer && !p.Terminating {
			n++
		}
	}
	return n
}

func isReady(conditions []metav1.Condition) bool {
	return meta.IsStatusConditionTrue(conditions, eventpipev1alpha1.ConditionReady)
}

func readyText(conditions []metav1.Condition) string {
	c := meta.FindStatusCondition(conditions, eventpipev1alpha1.ConditionReady)
	if c == nil {
		return "Unknown"
	}
	return string(c.Status)
}
