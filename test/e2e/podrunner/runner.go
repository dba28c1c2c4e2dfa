// Package podrunner stands in for a kubelet on a cluster whose node is fake
// (kwok moves pods to Running, nothing runs them). It watches every pod, and
// for each Running pod with a container of one of the configured images it
// starts one local process from that container's own spec: command and args
// with $(VAR) expansion, env (values, ConfigMap and Secret keys, the downward
// API), and the pod's volumes written to a directory of its own
// (ConfigMaps, Secrets, projected ServiceAccount tokens from the TokenRequest
// API with kube-root-ca.crt and the namespace, emptyDirs). Each process runs
// in a mount namespace of its own, where those volumes are bind-mounted at
// their mount paths, and a UTS namespace with the pod's name as hostname, as
// the container's user, with KUBERNETES_SERVICE_HOST and
// KUBERNETES_SERVICE_PORT naming the API server on loopback. So a manager
// started this way uses in-cluster credentials with exactly the RBAC it was
// installed with, and a worker reads the configuration its Consumer rendered.
//
// The one deliberate difference from a kubelet: processes share the host's
// loopback, so the listen-address flags (Config.AddressFlags) get a free
// loopback port each, reported in Process.Addresses and logged.
//
// It needs root (unshare, mount, setpriv from util-linux).
//
// Limitation: probes are not run and resources are not limited (no cgroups);
// the pod's Ready condition is kwok's, so a caller that needs to know whether
// a process is ready asks its health address itself, as test/e2e does.
package podrunner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// DefaultAddressFlags are the listen-address flags of the manager and the
// worker, rewritten to free loopback ports.
var DefaultAddressFlags = []string{"health-probe-bind-address", "metrics-bind-address"}

// defaultGrace is a pod's terminationGracePeriodSeconds when it sets none.
const defaultGrace = 30 * time.Second

// syncWorkers is how many pods are started or stopped at once.
const syncWorkers = 4

// Image is a local stand-in for a container image.
type Image struct {
	// Binary is the executable that stands for the image's entrypoint (the
	// first word of a container's command).
	Binary string
	// User and Group are the image's USER, used unless the pod's
	// securityContext sets runAsUser or runAsGroup.
	User, Group int64
}

// Config configures a Runner.
type Config struct {
	// Client reads pods, ConfigMaps and Secrets and requests tokens; it needs
	// those rights cluster-wide.
	Client kubernetes.Interface
	// APIServerHost and APIServerPort are what the processes get as
	// KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT.
	APIServerHost, APIServerPort string
	// Images maps an image repository ("ghcr.io/eventpipe/worker") to its
	// stand-in; a container whose image is that repository with any tag or
	// digest is run.
	Images map[string]Image
	// Dir receives the pods' volume directories and the process logs.
	Dir string
	// AddressFlags are the flags whose listen addresses are rewritten;
	// default DefaultAddressFlags.
	AddressFlags []string
	// Log receives the runner's own messages.
	Log logr.Logger
}

// APIServerAddress returns the host and port of a REST config's API server.
func APIServerAddress(cfg *rest.Config) (string, string, error) {
	u, err := url.Parse(cfg.Host)
	if err != nil {
		return "", "", fmt.Errorf("parse API server URL %q: %w", cfg.Host, err)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "443"
	}
	if net.ParseIP(host) == nil {
		return "", "", fmt.Errorf("API server host %q is not an IP address; in-cluster clients need one", host)
	}
	return host, port, nil
}

// Runner runs the processes of the pods of the configured images.
type Runner struct {
	cfg     Config
	spawner *spawner
	queue   workqueue.TypedRateLimitingInterface[types.NamespacedName]
	pods    corelisters.PodLister
	cancel  context.CancelFunc
	done    sync.WaitGroup

	mu sync.Mutex
	// running holds the process of each pod that has one.
	running map[types.NamespacedName]*process
	// all holds every process ever started, stopped ones included, for Logs.
	all []*process
	// stopping counts processes stopped but not yet exited.
	stopping sync.WaitGroup
	// created are the mount-point directories the runner made on the host.
	created map[string]bool
}

// New checks cfg and returns a Runner; Start starts it.
func New(cfg Config) (*Runner, error) {
	if cfg.Client == nil || cfg.APIServerHost == "" || cfg.APIServerPort == "" || cfg.Dir == "" {
		return nil, errors.New("podrunner: Client, APIServerHost, APIServerPort and Dir are required")
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("podrunner: must run as root (unshare --mount, mount, setpriv)")
	}
	images := make(map[string]Image, len(cfg.Images))
	for repo, img := range cfg.Images {
		abs, err := filepath.Abs(img.Binary)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			return nil, fmt.Errorf("podrunner: binary for image %s: %w", repo, err)
		}
		img.Binary = abs
		images[repo] = img
	}
	cfg.Images = images
	if cfg.AddressFlags == nil {
		cfg.AddressFlags = DefaultAddressFlags
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("podrunner: create directory: %w", err)
	}
	return &Runner{
		cfg:     cfg,
		spawner: newSpawner(),
		queue: workqueue.NewTypedRateLimitingQueue(
			workqueue.NewTypedItemExponentialFailureRateLimiter[types.NamespacedName](
				500*time.Millisecond, 10*time.Second)),
		running: map[types.NamespacedName]*process{},
		created: map[string]bool{},
	}, nil
}

// Start watches pods until Stop; it returns once the pod cache has synced.
func (r *Runner) Start(ctx context.Context) error {
	ctx, r.cancel = context.WithCancel(ctx)
	factory := informers.NewSharedInformerFactory(r.cfg.Client, 0)
	informer := factory.Core().V1().Pods()
	r.pods = informer.Lister()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			ns, name, _ := cache.SplitMetaNamespaceKey(key)
			r.queue.Add(types.NamespacedName{Namespace: ns, Name: name})
		}
	}
	if _, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return fmt.Errorf("podrunner: watch pods: %w", err)
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("podrunner: the cache of %v did not sync", typ)
		}
	}
	for range syncWorkers {
		r.done.Add(1)
		go func() {
			defer r.done.Done()
			for r.processNext(ctx) {
			}
		}()
	}
	r.cfg.Log.Info("Pod runner started", "images", imageNames(r.cfg.Images), "dir", r.cfg.Dir,
		"apiServer", net.JoinHostPort(r.cfg.APIServerHost, r.cfg.APIServerPort),
		"rewrittenFlags", r.cfg.AddressFlags)
	return nil
}

// Stop stops watching, then stops every process as if its pod were deleted,
// and waits for them to exit.
func (r *Runner) Stop() {
	if r.cancel != nil {
		r.cancel()
	}
	r.queue.ShutDown()
	r.done.Wait()
	r.mu.Lock()
	for key, p := range r.running {
		r.stopLocked(key, p)
	}
	r.mu.Unlock()
	r.stopping.Wait()
	close(r.spawner.requests)
	r.removeMountPoints()
}

// removeMountPoints removes the mount-point directories the runner created,
// deepest first, as long as they are empty.
func (r *Runner) removeMountPoints() {
	r.mu.Lock()
	defer r.mu.Unlock()
	dirs := make([]string, 0, len(r.created))
	for d := range r.created {
		dirs = append(dirs, d)
	}
	sort.Slice(dirs, func(i, j int) bool { return depth(dirs[i]) > depth(dirs[j]) })
	for _, d := range dirs {
		if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
			r.cfg.Log.Info("Left a mount point in place", "dir", d, "reason", err.Error())
		}
	}
}

// Processes returns the processes alive now, sorted by namespace and pod.
func (r *Runner) Processes() []Process {
	var out []Process
	for _, p := range r.All() {
		if p.Running {
			out = append(out, p)
		}
	}
	return out
}

// All returns every process started so far, exited ones included.
func (r *Runner) All() []Process {
	r.mu.Lock()
	all := append([]*process(nil), r.all...)
	r.mu.Unlock()
	out := make([]Process, 0, len(all))
	for _, p := range all {
		out = append(out, p.snapshot())
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Pod < out[j].Pod
	})
	return out
}

// Logs returns what the process of a pod has written, across restarts; the
// pod may be gone.
func (r *Runner) Logs(namespace, pod string) (string, error) {
	for _, p := range r.All() {
		if p.Namespace == namespace && p.Pod == pod {
			b, err := os.ReadFile(p.LogFile)
			if err != nil {
				return "", fmt.Errorf("read the log of %s/%s: %w", namespace, pod, err)
			}
			return string(b), nil
		}
	}
	return "", fmt.Errorf("no process was started for pod %s/%s", namespace, pod)
}

func (r *Runner) processNext(ctx context.Context) bool {
	key, shutdown := r.queue.Get()
	if shutdown {
		return false
	}
	defer r.queue.Done(key)
	if err := r.sync(ctx, key); err != nil {
		if ctx.Err() != nil {
			return false
		}
		r.cfg.Log.Error(err, "Cannot start the process of a pod; retrying", "pod", key.String())
		r.queue.AddRateLimited(key)
		return true
	}
	r.queue.Forget(key)
	return true
}

// sync makes one pod's process match the pod: started while the pod is
// Running, stopped once it is deleted or stops running.
func (r *Runner) sync(ctx context.Context, key types.NamespacedName) error {
	pod, err := r.pods.Pods(key.Namespace).Get(key.Name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	var container *corev1.Container
	var img Image
	if err == nil {
		container, img = r.pick(pod)
	}
	want := err == nil && container != nil && pod.DeletionTimestamp == nil &&
		pod.Status.Phase == corev1.PodRunning

	r.mu.Lock()
	current := r.running[key]
	if current != nil && (!want || current.info.UID != pod.UID) {
		r.stopLocked(key, current)
		current = nil
	}
	r.mu.Unlock()
	if !want || current != nil {
		return nil
	}
	return r.start(ctx, key, pod, container, img)
}

// pick returns the pod's first container of a configured image.
func (r *Runner) pick(pod *corev1.Pod) (*corev1.Container, Image) {
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		for repo, img := range r.cfg.Images {
			if imageMatches(c.Image, repo) {
				return c, img
			}
		}
	}
	return nil, Image{}
}

func (r *Runner) start(
	ctx context.Context,
	key types.NamespacedName,
	pod *corev1.Pod,
	c *corev1.Container,
	img Image,
) error {
	dir, err := podDir(r.cfg.Dir, pod)
	if err != nil {
		return err
	}
	l, err := r.prepare(ctx, pod, c, img, dir)
	if err != nil {
		return err
	}
	grace := defaultGrace
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	info := Process{
		Namespace: pod.Namespace, Pod: pod.Name, UID: pod.UID, Container: c.Name, Image: c.Image,
		Labels: copyMap(pod.Labels), Addresses: l.addresses,
		LogFile: filepath.Join(r.cfg.Dir, "logs", filepath.Base(dir)+".log"),
	}
	log := r.cfg.Log.WithValues("pod", key.String(), "container", c.Name)
	// The one deliberate difference from a kubelet, said where it happens.
	if len(l.addresses) > 0 {
		log.Info("Rewrote listen addresses to free loopback ports, as processes share loopback",
			"addresses", l.addresses)
	}
	p := newProcess(r.spawner, log, l, grace, info)

	r.mu.Lock()
	defer r.mu.Unlock()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.running[key] = p
	r.all = append(r.all, p)
	go p.supervise()
	return nil
}

// stopLocked stops a process in the background, as a kubelet stops a
// deleted pod's containers; r.mu must be held.
func (r *Runner) stopLocked(key types.NamespacedName, p *process) {
	delete(r.running, key)
	r.stopping.Add(1)
	go func() {
		defer r.stopping.Done()
		p.stop()
		if err := os.RemoveAll(p.launch.dir); err != nil {
			p.log.Error(err, "Cannot remove the pod's volume directory", "dir", p.launch.dir)
		}
	}()
}

// imageMatches says image is repo with a tag, a digest or neither.
func imageMatches(image, repo string) bool {
	rest, ok := strings.CutPrefix(image, repo)
	return ok && (rest == "" || rest[0] == ':' || rest[0] == '@')
}

func imageNames(images map[string]Image) []string {
	names := make([]string, 0, len(images))
	for k := range images {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Stage copies a binary that stands for an image into dir, and returns the
// copy's path. Pods mount volumes over paths such as /tmp, which would hide a
// binary of a clone that lives there; dir must lie outside every mount path.
func Stage(binary, dir string) (string, error) {
	b, err := os.ReadFile(binary)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", binary, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	dst := filepath.Join(dir, filepath.Base(binary))
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		return "", fmt.Errorf("write %s: %w", dst, err)
	}
	return dst, nil
}
