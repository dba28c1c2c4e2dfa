// Package config is the contract between the manager and its workers: the
// configuration the Consumer reconciler renders into a ConfigMap and a worker
// reads at start. Both sides use these types, so they cannot disagree.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

const (
	// FileName is the key of the worker configuration in its ConfigMap.
	FileName = "worker.json"

	// MountPath is where worker pods mount that ConfigMap.
	MountPath = "/etc/eventpipe/worker"

	// KafkaMountPath is where worker pods mount the Kafka connection Secret
	// (see internal/kafka for its files).
	KafkaMountPath = "/etc/eventpipe/kafka"

	// HealthPort serves /healthz and /readyz.
	HealthPort = 8081

	// MetricsPort serves Prometheus /metrics.
	MetricsPort = 9090

	// MemoryLimitEnv holds the worker container's memory limit in bytes,
	// from the downward API, when the Consumer sets one. The worker keeps
	// its heap under most of it (see cmd/worker).
	MemoryLimitEnv = "EVENTPIPE_MEMORY_LIMIT"
)

// Delivery guarantees, as in the Consumer API.
const (
	// AtLeastOnce commits input offsets after the outputs are acknowledged.
	AtLeastOnce = "AtLeastOnce"
	// Idempotent also drops repeated inputs by CloudEvents source and id.
	Idempotent = "Idempotent"
	// ExactlyOnce reads, writes and commits in one Kafka transaction.
	ExactlyOnce = "ExactlyOnce"
)

// Initial offsets, as in the Consumer API.
const (
	// Earliest starts a group without a committed offset at the oldest event.
	Earliest = "Earliest"
	// Latest starts it at the next event written.
	Latest = "Latest"
)

// Duration is a time.Duration written as text ("200ms") in JSON.
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration written as text.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be text such as \"200ms\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// Delivery is how a worker delivers outputs and handles failures.
type Delivery struct {
	// Guarantee is AtLeastOnce, Idempotent or ExactlyOnce.
	Guarantee string `json:"guarantee"`
	// MaxAttempts is how often a retryable failure is tried before the event
	// is dead-lettered.
	MaxAttempts int `json:"maxAttempts"`
	// BackoffInitial is the wait before the second attempt.
	BackoffInitial Duration `json:"backoffInitial"`
	// BackoffMax is the longest wait between attempts.
	BackoffMax Duration `json:"backoffMax"`
	// DedupTTL is how long an event id is remembered (Idempotent).
	DedupTTL Duration `json:"dedupTTL"`
	// DedupMaxKeys bounds the event ids a worker remembers (Idempotent); 0
	// leaves the bound to the worker's memory limit, or to none without one.
	DedupMaxKeys int64 `json:"dedupMaxKeys,omitempty"`
}

// Worker is the configuration of one Consumer's workers.
type Worker struct {
	// Consumer names the Consumer as namespace/name, for logs and reports.
	Consumer string `json:"consumer"`
	// ConsumerGroup is the Kafka consumer group.
	ConsumerGroup string `json:"consumerGroup"`
	// InputTopic is the topic the workers read.
	InputTopic string `json:"inputTopic"`
	// InitialOffset is where a group without a committed offset starts.
	InitialOffset string `json:"initialOffset"`
	// Outputs maps the processor's output names to topics.
	Outputs map[string]string `json:"outputs,omitempty"`
	// DeadLetterTopic receives the events that cannot be processed. Empty: a
	// worker stops consuming the partition of such an event instead.
	DeadLetterTopic string `json:"deadLetterTopic,omitempty"`
	// DedupTopic is the compacted changelog of the dedup store (Idempotent).
	DedupTopic string `json:"dedupTopic,omitempty"`
	// Delivery is the delivery guarantee, retries and backoff.
	Delivery Delivery `json:"delivery"`
	// Settings are the processor's own settings, as the Consumer gives them.
	Settings json.RawMessage `json:"settings,omitempty"`
}

// Defaults are the values the API defaults to, for configs written by hand.
var Defaults = Delivery{
	Guarantee:      AtLeastOnce,
	MaxAttempts:    5,
	BackoffInitial: Duration{200 * time.Millisecond},
	BackoffMax:     Duration{10 * time.Second},
	DedupTTL:       Duration{24 * time.Hour},
}

// Load reads and checks a worker configuration file, filling in defaults.
func Load(path string) (Worker, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Worker{}, fmt.Errorf("read worker config: %w", err)
	}
	var w Worker
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Worker{}, fmt.Errorf("parse worker config %s: %w", path, err)
	}
	w.applyDefaults()
	if err := w.Validate(); err != nil {
		return Worker{}, fmt.Errorf("worker config %s: %w", path, err)
	}
	return w, nil
}

func (w *Worker) applyDefaults() {
	if w.InitialOffset == "" {
		w.InitialOffset = Earliest
	}
	d := &w.Delivery
	if d.Guarantee == "" {
		d.Guarantee = Defaults.Guarantee
	}
	if d.MaxAttempts == 0 {
		d.MaxAttempts = Defaults.MaxAttempts
	}
	if d.BackoffInitial.Duration == 0 {
		d.BackoffInitial = Defaults.BackoffInitial
	}
	if d.BackoffMax.Duration == 0 {
		d.BackoffMax = Defaults.BackoffMax
	}
	if d.DedupTTL.Duration == 0 {
		d.DedupTTL = Defaults.DedupTTL
	}
}

// Validate reports the first thing wrong with the configuration.
func (w Worker) Validate() error {
	var errs []error
	if w.ConsumerGroup == "" {
		errs = append(errs, errors.New("consumerGroup is empty"))
	}
	if w.InputTopic == "" {
		errs = append(errs, errors.New("inputTopic is empty"))
	}
	if w.InitialOffset != Earliest && w.InitialOffset != Latest {
		errs = append(errs, fmt.Errorf("initialOffset %q is neither %s nor %s", w.InitialOffset, Earliest, Latest))
	}
	switch w.Delivery.Guarantee {
	case AtLeastOnce, ExactlyOnce:
	case Idempotent:
		if w.DedupTopic == "" {
			errs = append(errs, errors.New("dedupTopic is empty; the Idempotent guarantee needs one"))
		}
	default:
		errs = append(errs, fmt.Errorf("delivery.guarantee %q is not one of %s, %s, %s",
			w.Delivery.Guarantee, AtLeastOnce, Idempotent, ExactlyOnce))
	}
	if w.Delivery.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("delivery.maxAttempts %d is below 1", w.Delivery.MaxAttempts))
	}
	if w.Delivery.DedupMaxKeys < 0 {
		errs = append(errs, fmt.Errorf("delivery.dedupMaxKeys %d is negative", w.Delivery.DedupMaxKeys))
	}
	if w.Delivery.BackoffInitial.Duration > w.Delivery.BackoffMax.Duration {
		errs = append(errs, errors.New("delivery.backoffInitial is longer than delivery.backoffMax"))
	}
	for name, topic := range w.Outputs {
		if topic == "" {
			errs = append(errs, fmt.Errorf("output %q has no topic", name))
		}
	}
	return errors.Join(errs...)
}
