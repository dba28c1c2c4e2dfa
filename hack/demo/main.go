// Command demo is `make demo`: it starts a Kafka broker and the local control
// plane, installs eventpipe with its Helm chart, runs the operator's pods as
// local processes (test/e2e/podrunner), applies a showcase pipeline, produces
// order events with a burst in the middle, and prints a live view every few
// seconds until Ctrl-C or DEMO_DURATION. On the way out it stops everything
// it started, also after an error.
//
// It runs from the repository root and needs root (the podrunner's mount
// namespaces) and what `make build helm kubectl kwok` puts into bin/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-logr/logr"
)

// config holds the demo's inputs: paths from flags, the duration from DEMO_DURATION.
type config struct {
	workDir    string
	clusterDir string
	kafkaDir   string
	binDir     string
	// duration ends the demo on its own; zero runs it until a signal.
	duration time.Duration
	// rate is the steady number of order events per second.
	rate int
}

func main() {
	os.Exit(run())
}

func run() int {
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// Signals stay caught until cleanup is done, so a second Ctrl-C cannot cut
	// it short; the processes started are in process groups of their own.
	defer stop()

	d, err := newDemo(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	err = d.run(ctx)
	if ctx.Err() != nil {
		err = nil
	}
	fmt.Println()
	fmt.Println("Cleaning up: stopping workers, the local control plane and Kafka")
	d.cleanup()
	d.printLogs()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		return 1
	}
	return 0
}

func loadConfig() (config, error) {
	root, err := os.Getwd()
	if err != nil {
		return config{}, fmt.Errorf("get working directory: %w", err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return config{}, errors.New("run the demo from the repository root: `make demo`")
	}
	bin := filepath.Join(root, "bin")
	cfg := config{binDir: bin, rate: 200}
	// Outside the clone: pods mount over /tmp, where a clone may live.
	flag.StringVar(&cfg.workDir, "work-dir", filepath.Join(cacheDir(), "demo"), "logs and the podrunner's files")
	flag.StringVar(&cfg.clusterDir, "cluster-dir", filepath.Join(bin, ".demo-cluster"),
		"LOCAL_CLUSTER_DIR of the demo's control plane")
	flag.StringVar(&cfg.kafkaDir, "kafka-state-dir", filepath.Join(bin, ".demo-kafka"),
		"KAFKA_STATE_DIR of the demo's broker")
	flag.IntVar(&cfg.rate, "rate", cfg.rate, "order events per second")
	flag.Parse()
	if v := os.Getenv("DEMO_DURATION"); v != "" {
		if cfg.duration, err = time.ParseDuration(v); err != nil {
			return config{}, fmt.Errorf("parse DEMO_DURATION %q: %w", v, err)
		}
	}
	if os.Geteuid() != 0 {
		return config{}, errors.New("the demo runs the operator's pods in mount namespaces and needs root")
	}
	return cfg, nil
}

// demo is one run: what it started, to be stopped in reverse order.
type demo struct {
	cfg      config
	log      logr.Logger
	logFile  *os.File
	cleanups []cleanupStep
	env      []string

	kafkaBootstrap string
	kubeconfig     string
	cluster        *cluster
	stats          *stats
}

// cleanupStep undoes one thing the demo started.
type cleanupStep struct {
	what string
	fn   func() error
}

func newDemo(cfg config) (*demo, error) {
	if err := os.MkdirAll(cfg.workDir, 0o755); err != nil {
		return nil, fmt.Errorf("create work directory: %w", err)
	}
	f, err := os.Create(filepath.Join(cfg.workDir, "demo.log"))
	if err != nil {
		return nil, fmt.Errorf("create demo log: %w", err)
	}
	return &demo{cfg: cfg, logFile: f, log: newLogger(f), stats: &stats{}}, nil
}

// onCleanup registers fn to run at the end, before everything registered earlier.
func (d *demo) onCleanup(what string, fn func() error) {
	d.cleanups = append(d.cleanups, cleanupStep{what: what, fn: fn})
}

func (d *demo) cleanup() {
	for i := len(d.cleanups) - 1; i >= 0; i-- {
		c := d.cleanups[i]
		fmt.Printf("  %s\n", c.what)
		if err := c.fn(); err != nil {
			d.log.Error(err, "Cleanup step failed", "step", c.what)
			fmt.Fprintf(os.Stderr, "  %s failed: %v\n", c.what, err)
		}
	}
	d.cleanups = nil
}

func (d *demo) printLogs() {
	fmt.Println("Logs:")
	fmt.Printf("  demo, helm, kubectl, podrunner:  %s\n", d.logFile.Name())
	fmt.Printf("  manager and worker processes:    %s\n", filepath.Join(d.cfg.workDir, "podrunner", "logs"))
	fmt.Printf("  Kafka broker:                    %s\n", filepath.Join(d.cfg.workDir, "kafka-broker.log"))
	_ = d.logFile.Close()
}

// run starts everything and shows the live view until ctx ends or the
// duration elapses.
func (d *demo) run(ctx context.Context) error {
	steps := []struct {
		what string
		fn   func(context.Context) error
	}{
		{"Starting Kafka", d.startKafka},
		{"Starting the local control plane", d.startCluster},
		{"Starting the pod runner", d.startPodRunner},
		{"Installing eventpipe with Helm", d.installOperator},
		{"Applying the showcase pipeline in namespace " + demoNamespace, d.applyPipeline},
		{"Waiting for the EventStreams to become Ready", d.waitStreams},
	}
	start := time.Now()
	for _, s := range steps {
		fmt.Printf("%-58s", s.what+" ...")
		stepStart := time.Now()
		if err := s.fn(ctx); err != nil {
			fmt.Println(" failed")
			return err
		}
		fmt.Printf(" done (%s)\n", time.Since(stepStart).Round(100*time.Millisecond))
	}
	fmt.Printf("Up in %s. Producing events; Ctrl-C stops the demo.\n\n", time.Since(start).Round(time.Second))
	return d.live(ctx)
}

// cacheDir is where eventpipe keeps what it builds and runs outside the clone.
func cacheDir() string {
	if d := os.Getenv("EVENTPIPE_CACHE_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return os.TempDir()
	}
	return filepath.Join(home, ".cache", "eventpipe")
}
