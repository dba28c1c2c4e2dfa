// Package runtime runs one processor as a member of a Kafka consumer group:
// it reads CloudEvents from the input topic, upcasts them, calls the
// processor, writes its outputs in binary content mode, retries what the
// processor marks retryable, dead-letters what cannot be handled, and
// commits input offsets only once the outputs are safe, in the delivery
// guarantee the Consumer asks for.
//
// Each claimed partition is handled by one goroutine, in offset order. A
// partition reads batches of the events already fetched, so the outputs of
// many events are acknowledged (or committed in one transaction) together.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/eventpipe/eventpipe/internal/kafka"
	"github.com/eventpipe/eventpipe/workers/config"
	"github.com/eventpipe/eventpipe/workers/processor"
)

// DefaultShutdownTimeout bounds a graceful shutdown; it stays below the 30s a
// Kubernetes pod is given between SIGTERM and SIGKILL.
const DefaultShutdownTimeout = 25 * time.Second

// maxBatch is the most events a partition handles between two commits.
const maxBatch = 500

// consumeRetryDelay is the wait before rejoining the group after Consume fails.
const consumeRetryDelay = time.Second

// Options configure a Runner.
type Options struct {
	// Worker is the configuration the manager rendered.
	Worker config.Worker
	// Kafka says how to reach the brokers.
	Kafka kafka.Config
	// Definition is the processor's registration; its Upcasters are applied.
	Definition processor.Definition
	// Processor handles the events.
	Processor processor.Processor
	// HealthAddr serves /healthz and /readyz; "" or "0" serves nothing.
	HealthAddr string
	// MetricsAddr serves /metrics; "" or "0" serves nothing.
	MetricsAddr string
}

// Runner is one worker process's membership of its consumer group.
type Runner struct {
	opts    Options
	metrics *metrics
	health  *health
	backoff backoff

	group     sarama.ConsumerGroup
	producer  sarama.AsyncProducer
	routed    chan struct{} // closed once every acknowledgement of producer is routed
	changelog *changelog
	// scraped is changelog for the metrics scrapes, which may come before
	// connect has opened it.
	scraped atomic.Pointer[changelog]

	txMu        sync.Mutex
	transactors map[int32]*transactor // ExactlyOnce: by claimed partition
}

// New checks the options and prepares a Runner; it connects to nothing.
func New(opts Options) (*Runner, error) {
	if opts.Processor == nil {
		return nil, errors.New("no processor")
	}
	if err := opts.Worker.Validate(); err != nil {
		return nil, fmt.Errorf("validate worker config: %w", err)
	}
	if err := opts.Kafka.Validate(); err != nil {
		return nil, fmt.Errorf("validate Kafka config: %w", err)
	}
	for _, name := range opts.Definition.Outputs {
		if _, ok := opts.Worker.Outputs[name]; !ok {
			return nil, fmt.Errorf("processor %s needs output %q, which the worker config lacks",
				opts.Definition.Name, name)
		}
	}
	d := opts.Worker.Delivery
	r := &Runner{
		opts:    opts,
		health:  newHealth(),
		backoff: backoff{initial: d.BackoffInitial.Duration, max: d.BackoffMax.Duration},
	}
	var dedupKeys func() float64
	if d.Guarantee == config.Idempotent {
		dedupKeys = func() float64 { return float64(r.scraped.Load().keys()) }
	}
	r.metrics = newMetrics(opts.Worker.InputTopic, dedupKeys)
	return r, nil
}

// Run serves the health and metrics endpoints and consumes until ctx ends,
// then finishes the batches in flight, commits, leaves the group and closes
// its clients. The caller bounds how long that may take.
func (r *Runner) Run(ctx context.Context) error {
	logger := log.FromContext(ctx)

	stopHTTP, err := r.serveHTTP(ctx)
	if err != nil {
		return err
	}
	defer stopHTTP()

	if err := r.connect(ctx); err != nil {
		r.closeClients(ctx)
		return err
	}
	defer r.closeClients(ctx)

	go r.logGroupErrors(ctx)
	w := r.opts.Worker
	logger.Info("Consuming", "topic", w.InputTopic, "group", w.ConsumerGroup,
		"guarantee", w.Delivery.Guarantee, "processor", r.opts.Definition.Name)
	for ctx.Err() == nil {
		err := r.group.Consume(ctx, []string{w.InputTopic}, r)
		if errors.Is(err, sarama.ErrClosedConsumerGroup) {
			break
		}
		if err != nil {
			r.health.setJoined(false)
			logger.Error(err, "Cannot consume from the consumer group; retrying",
				"group", w.ConsumerGroup, "unreachable", kafka.IsUnreachable(err))
			select {
			case <-ctx.Done():
			case <-time.After(consumeRetryDelay):
			}
		}
	}
	logger.Info("Leaving the consumer group", "group", w.ConsumerGroup)
	return nil
}

// connect opens the consumer group and the producers the guarantee needs.
func (r *Runner) connect(ctx context.Context) error {
	w := r.opts.Worker
	cc, err := saramaConfig(r.opts.Kafka, w, roleConsumer, "")
	if err != nil {
		return err
	}
	r.group, err = sarama.NewConsumerGroup(r.opts.Kafka.BootstrapServers, w.ConsumerGroup, cc)
	if err != nil {
		return fmt.Errorf("join consumer group %s: %w", w.ConsumerGroup, err)
	}

	if w.Delivery.Guarantee == config.ExactlyOnce {
		return nil
	}
	pc, err := saramaConfig(r.opts.Kafka, w, roleProducer, "")
	if err != nil {
		return err
	}
	r.producer, err = sarama.NewAsyncProducer(r.opts.Kafka.BootstrapServers, pc)
	if err != nil {
		return fmt.Errorf("create producer: %w", err)
	}
	r.routed = make(chan struct{})
	go routeAcks(r.producer, r.routed)

	if w.Delivery.Guarantee != config.Idempotent {
		return nil
	}
	r.changelog, err = openChangelog(ctx, r.opts.Kafka, w)
	r.scraped.Store(r.changelog)
	return err
}

// closeClients closes whatever connect opened, leaving the group first.
func (r *Runner) closeClients(ctx context.Context) {
	logger := log.FromContext(ctx)
	if r.group != nil {
		if err := r.group.Close(); err != nil {
			logger.Error(err, "Cannot leave the consumer group cleanly")
		}
	}
	if r.producer != nil {
		// Every claim has ended, so nothing waits for these acknowledgements;
		// routeAcks drains them until the producer has flushed and stopped.
		r.producer.AsyncClose()
		<-r.routed
	}
	if r.changelog != nil {
		r.changelog.close(ctx)
	}
}

func (r *Runner) logGroupErrors(ctx context.Context) {
	logger := log.FromContext(ctx)
	for err := range r.group.Errors() {
		logger.Error(err, "Consumer group error", "group", r.opts.Worker.ConsumerGroup)
	}
}

// serveHTTP listens on the health and metrics addresses before anything else,
// so a bad address fails the start at once. The returned func shuts them down.
func (r *Runner) serveHTTP(ctx context.Context) (func(), error) {
	healthMux, metricsMux := r.handlers()
	var servers []*http.Server
	stop := func() {
		for _, s := range servers {
			shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = s.Shutdown(shutdownCtx)
			cancel()
		}
	}
	addrs := []struct {
		addr string
		mux  *http.ServeMux
	}{{r.opts.HealthAddr, healthMux}}
	if r.opts.MetricsAddr != r.opts.HealthAddr {
		addrs = append(addrs, struct {
			addr string
			mux  *http.ServeMux
		}{r.opts.MetricsAddr, metricsMux})
	}
	for _, a := range addrs {
		if a.addr == "" || a.addr == "0" {
			continue
		}
		ln, err := net.Listen("tcp", a.addr)
		if err != nil {
			stop()
			return nil, fmt.Errorf("listen on %s: %w", a.addr, err)
		}
		s := &http.Server{Handler: a.mux, ReadHeaderTimeout: 5 * time.Second}
		servers = append(servers, s)
		go func() {
			if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.FromContext(ctx).Error(err, "HTTP server stopped", "address", a.addr)
			}
		}()
	}
	return stop, nil
}
