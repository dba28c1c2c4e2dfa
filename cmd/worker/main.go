// Command worker runs one processor of eventpipe as a member of its
// Consumer's consumer group. The manager renders its flags and mounts its
// configuration; see workers/config for the file and workers/runtime for
// what the worker does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/eventpipe/eventpipe/internal/kafka"
	"github.com/eventpipe/eventpipe/workers/config"
	"github.com/eventpipe/eventpipe/workers/processor"
	_ "github.com/eventpipe/eventpipe/workers/processors/all"
	"github.com/eventpipe/eventpipe/workers/runtime"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		processorName   string
		configPath      string
		healthAddr      string
		metricsAddr     string
		shutdownTimeout time.Duration
		kc              = kafka.Config{ClientID: "eventpipe-worker"}
	)
	flag.StringVar(&processorName, "processor", "",
		"Processor to run, one of: "+strings.Join(processor.Names(), ", "))
	flag.StringVar(&configPath, "config", config.MountPath+"/"+config.FileName,
		"Worker configuration file rendered by the manager")
	flag.StringVar(&healthAddr, "health-probe-bind-address", ":"+strconv.Itoa(config.HealthPort),
		"Address of /healthz and /readyz (0 disables)")
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":"+strconv.Itoa(config.MetricsPort),
		"Address of /metrics (0 disables)")
	flag.DurationVar(&shutdownTimeout, "shutdown-timeout", runtime.DefaultShutdownTimeout,
		"Longest time to finish in-flight events, commit and leave the group after SIGTERM")
	kc.BindFlags(flag.CommandLine)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	logger := zap.New(zap.UseFlagOptions(&zapOpts))
	ctrl.SetLogger(logger)
	memoryLimit, err := applyMemoryLimit(logger)
	if err != nil {
		return err
	}

	opts, err := options(processorName, configPath, kc)
	if err != nil {
		return err
	}
	boundDedupStore(logger, &opts.Worker.Delivery, memoryLimit)
	applyGCPercent(opts.Worker.Delivery.Guarantee)
	opts.HealthAddr, opts.MetricsAddr = healthAddr, metricsAddr
	runner, err := runtime.New(opts)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(log.IntoContext(context.Background(), logger))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-done:
		return err
	case sig := <-signals:
		logger.Info("Shutting down", "signal", sig.String(), "timeout", shutdownTimeout.String())
	}
	cancel()
	select {
	case err := <-done:
		logger.Info("Stopped")
		return err
	case <-time.After(shutdownTimeout):
		return fmt.Errorf("shut down: not done after %v; uncommitted events will be "+
			"processed again by the next owner", shutdownTimeout)
	case sig := <-signals:
		return fmt.Errorf("shut down: interrupted by a second %v", sig)
	}
}

// memoryLimitShare is the part of the container's memory limit the Go heap
// may grow to before the collector works to hold it there; the rest is for
// goroutine stacks, sarama's buffers and what the runtime cannot return.
const memoryLimitShare = 0.9

// applyMemoryLimit sets the Go runtime's soft memory limit from the limit
// the manager passes in EVENTPIPE_MEMORY_LIMIT, and returns that limit, 0
// without one. GOMEMLIMIT, when set, is the user's own choice and wins.
func applyMemoryLimit(logger logr.Logger) (int64, error) {
	v, ok := os.LookupEnv(config.MemoryLimitEnv)
	if !ok {
		return 0, nil
	}
	limit, err := strconv.ParseInt(v, 10, 64)
	if err != nil || limit <= 0 {
		return 0, fmt.Errorf("%s=%q: want the container's memory limit in bytes", config.MemoryLimitEnv, v)
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		return limit, nil
	}
	soft := int64(float64(limit) * memoryLimitShare)
	debug.SetMemoryLimit(soft)
	logger.Info("Keeping the heap under the container's memory limit", "limitBytes", limit,
		"softLimitBytes", soft)
	return limit, nil
}

// gcPercent is the worker's GOGC: the heap may grow to three times what is
// live before a collection, not twice. A worker's live heap is small (a few
// MB at a steady rate, a few tens while it drains a backlog: the batches in
// flight) and nearly everything it allocates is garbage an event later, so
// it collected 60 times a second at 45,000 events/s. Collecting half as
// often cut its CPU per event by about a tenth in `make bench-worker`, for 5
// to 10 MB more at steady state and a higher peak while it drains a backlog;
// the memory limit, when there is one, still bounds the heap. An Idempotent
// worker keeps Go's 100: its dedup store is a large live heap, which already
// spaces the collections, and three times it cost 25 to 60 MB more (144 to
// 188 MB against 119 to 131 in one bench run) for under a tenth of its CPU.
const gcPercent = 200

// applyGCPercent sets the worker's GOGC for its guarantee unless the
// environment sets one.
func applyGCPercent(guarantee string) {
	if _, ok := os.LookupEnv("GOGC"); !ok && guarantee != config.Idempotent {
		debug.SetGCPercent(gcPercent)
	}
}

// The dedup store's default bound: the keys a quarter of the memory limit
// holds, at a little more than the 35 bytes a key was measured to take
// (BenchmarkDedupStoreBytesPerKey), for the map's growth.
const (
	dedupMemoryShare = 0.25
	dedupKeyBytes    = 40
)

// boundDedupStore gives an Idempotent worker without dedupMaxKeys the bound
// its memory limit allows; without a limit the store stays unbounded.
func boundDedupStore(logger logr.Logger, d *config.Delivery, memoryLimit int64) {
	if d.Guarantee != config.Idempotent || d.DedupMaxKeys > 0 {
		return
	}
	if memoryLimit == 0 {
		logger.Info("The dedup store is unbounded: neither dedupMaxKeys nor a memory limit is set; "+
			"it holds about 35 bytes per event of the dedup TTL", "dedupTTL", d.DedupTTL.String())
		return
	}
	d.DedupMaxKeys = int64(float64(memoryLimit) * dedupMemoryShare / dedupKeyBytes)
	logger.Info("Bounding the dedup store by the memory limit", "dedupMaxKeys", d.DedupMaxKeys,
		"limitBytes", memoryLimit)
}

// options loads and checks everything the worker needs before it connects.
func options(processorName, configPath string, kc kafka.Config) (runtime.Options, error) {
	if processorName == "" {
		return runtime.Options{}, errors.New("--processor is required, one of: " +
			strings.Join(processor.Names(), ", "))
	}
	def, ok := processor.Lookup(processorName)
	if !ok {
		return runtime.Options{}, fmt.Errorf("unknown --processor %q, want one of: %s",
			processorName, strings.Join(processor.Names(), ", "))
	}
	w, err := config.Load(configPath)
	if err != nil {
		return runtime.Options{}, err
	}
	if err := kc.Validate(); err != nil {
		return runtime.Options{}, err
	}
	if err := processor.ValidateSettings(processorName, w.Settings); err != nil {
		return runtime.Options{}, fmt.Errorf("settings of processor %s: %w", processorName, err)
	}
	p, err := def.New(w.Settings)
	if err != nil {
		return runtime.Options{}, fmt.Errorf("create processor %s: %w", processorName, err)
	}
	return runtime.Options{Worker: w, Kafka: kc, Definition: def, Processor: p}, nil
}
