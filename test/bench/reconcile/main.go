// Command reconcile measures how fast the manager turns EventStreams into
// Kafka topics: it starts a real kube-apiserver and etcd (envtest), runs the
// manager binary as its own process against them and a real broker, creates
// many EventStreams at once, and prints the time until all are Ready, the
// reconciles per second and the manager's peak memory.
//
//	make bench-reconcile            # 1,000 streams
//	STREAMS=200 make bench-reconcile
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

// referenceRate is the topic changes per second the best-known Kafka topic
// operator reports for itself; the result is printed against it.
const referenceRate = 17.0

func main() {
	streams := flag.Int("streams", 1000, "EventStreams to create")
	partitions := flag.Int("partitions", 1, "partitions of each topic")
	creators := flag.Int("creators", 8, "clients creating EventStreams in parallel")
	concurrency := flag.Int("concurrency", 8, "the manager's --eventstream-concurrency")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	flag.Parse()

	if err := run(*streams, int32(*partitions), *creators, *concurrency, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "bench-reconcile:", err)
		os.Exit(1)
	}
}

func run(streams int, partitions int32, creators, concurrency int, timeout time.Duration) error {
	bootstrap := os.Getenv("KAFKA_BOOTSTRAP")
	if bootstrap == "" {
		return errors.New("KAFKA_BOOTSTRAP is not set: run `make bench-reconcile`, which starts a broker")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("start envtest: %w", err)
	}
	defer func() { _ = env.Stop() }()

	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = eventpipev1alpha1.AddToScheme(scheme)
	// The bench creates objects as fast as it can; lift the client's throttle.
	cfg.QPS, cfg.Burst = 500, 1000
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}

	mgr, err := startManager(env, bootstrap, concurrency)
	if err != nil {
		return err
	}
	defer mgr.stop()

	ns := fmt.Sprintf("bench-%d", time.Now().Unix())
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return fmt.Errorf("create namespace: %w", err)
	}

	fmt.Printf("Creating %d EventStreams (%d partition(s) each) with %d clients; manager concurrency %d\n",
		streams, partitions, creators, concurrency)
	start := time.Now()
	if err := createStreams(ctx, c, ns, streams, partitions, creators); err != nil {
		return err
	}
	created := time.Since(start)
	if err := waitReady(ctx, c, ns, streams); err != nil {
		return err
	}
	elapsed := time.Since(start)

	reconciles, err := mgr.reconcileTotal()
	if err != nil {
		return err
	}
	peak, err := mgr.peakRSS()
	if err != nil {
		return err
	}
	rate := float64(streams) / elapsed.Seconds()
	fmt.Printf("\nstreams:              %d\n", streams)
	fmt.Printf("created in:           %s\n", created.Round(time.Millisecond))
	fmt.Printf("all Ready after:      %s (goal: under 30s)\n", elapsed.Round(time.Millisecond))
	fmt.Printf("topics per second:    %.1f (%.1fx the %.0f/s reported by the best-known topic operator)\n",
		rate, rate/referenceRate, referenceRate)
	fmt.Printf("reconciles:           %d (%.1f per second)\n", reconciles, float64(reconciles)/elapsed.Seconds())
	fmt.Printf("manager peak memory:  %.1f MiB (goal: under 150 MiB)\n", float64(peak)/(1<<20))
	return nil
}

func createStreams(ctx context.Context, c client.Client, ns string, n int, partitions int32, workers int) error {
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				s := &eventpipev1alpha1.EventStream{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("stream-%04d", i)},
					Spec: eventpipev1alpha1.EventStreamSpec{
						Partitions: partitions,
						Config:     map[string]string{"compression.type": "zstd"},
					},
				}
				if err := c.Create(ctx, s); err != nil {
					errs <- fmt.Errorf("create EventStream %s: %w", s.Name, err)
					return
				}
			}
		}()
	}
	for i := range n {
		select {
		case next <- i:
		case err := <-errs:
			close(next)
			wg.Wait()
			return err
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func waitReady(ctx context.Context, c client.Client, ns string, n int) error {
	last := -1
	for {
		var list eventpipev1alpha1.EventStreamList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return fmt.Errorf("list EventStreams: %w", err)
		}
		ready := 0
		for i := range list.Items {
			if meta.IsStatusConditionTrue(list.Items[i].Status.Conditions, eventpipev1alpha1.ConditionReady) {
				ready++
			}
		}
		if ready != last {
			fmt.Printf("  %4d / %d Ready\n", ready, n)
			last = ready
		}
		if ready == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("only %d of %d EventStreams Ready: %w", ready, n, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// manager is the manager binary running as a child process.
type manager struct {
	cmd         *exec.Cmd
	metricsAddr string
	stopOnce    sync.Once
}

func startManager(env *envtest.Environment, bootstrap string, concurrency int) (*manager, error) {
	dir, err := os.MkdirTemp("", "eventpipe-bench-")
	if err != nil {
		return nil, fmt.Errorf("create temp dir: %w", err)
	}
	bin := filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", bin, "./cmd/manager")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build manager: %w", err)
	}

	user, err := env.AddUser(envtest.User{Name: "bench-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("add envtest user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return nil, fmt.Errorf("render kubeconfig: %w", err)
	}
	kubeconfigPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}

	metricsAddr, probeAddr := freeAddr(), freeAddr()
	logFile, err := os.Create(filepath.Join(dir, "manager.log"))
	if err != nil {
		return nil, fmt.Errorf("create manager log: %w", err)
	}
	cmd := exec.Command(bin,
		"--kubeconfig="+kubeconfigPath,
		"--kafka-bootstrap-servers="+bootstrap,
		"--metrics-bind-address="+metricsAddr,
		"--metrics-secure=false",
		"--health-probe-bind-address="+probeAddr,
		"--eventstream-concurrency="+strconv.Itoa(concurrency),
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start manager: %w", err)
	}
	fmt.Printf("Manager pid %d, log in %s\n", cmd.Process.Pid, logFile.Name())
	return &manager{cmd: cmd, metricsAddr: metricsAddr}, nil
}

// peakRSS is the manager's resident memory high-water mark, from the kernel.
func (m *manager) peakRSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("read manager memory: %w", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmHWM %q: %w", rest, err)
			}
			return kib << 10, nil
		}
	}
	return 0, errors.New("no VmHWM in the manager's /proc status")
}

// reconcileTotal reads controller-runtime's reconcile counter of the
// eventstream controller from the manager's metrics endpoint.
func (m *manager) reconcileTotal() (int64, error) {
	resp, err := http.Get("http://" + m.metricsAddr + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("scrape manager metrics: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var total float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "controller_runtime_reconcile_total{") ||
			!strings.Contains(line, `controller="eventstream"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("parse metric line %q: %w", line, err)
		}
		total += v
	}
	return int64(total), sc.Err()
}

func (m *manager) stop() {
	m.stopOnce.Do(func() {
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = m.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = m.cmd.Process.Kill()
		}
	})
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}
