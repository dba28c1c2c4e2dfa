package runtime

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the worker's Prometheus series, on a registry of its own so
// that nothing else in the process adds to /metrics by accident.
type metrics struct {
	registry     *prometheus.Registry
	consumed     *prometheus.CounterVec
	processed    *prometheus.CounterVec
	failed       *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	retried      *prometheus.CounterVec
	duplicates   *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	lag          *prometheus.GaugeVec
	writeFailed  *prometheus.CounterVec
	dedupEvicted prometheus.Counter

	// The series of the input topic, resolved once: the label lookup per
	// event would otherwise cost a hash of the labels each time.
	inConsumed, inProcessed, inFailed, inRetried, inDuplicates, inWriteFailed prometheus.Counter
	inLatency                                                                 prometheus.Observer
}

// newMetrics creates the series of a worker reading topic. dedupKeys, when
// not nil, reports how many keys the dedup stores hold.
func newMetrics(topic string, dedupKeys func() float64) *metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "eventpipe", Subsystem: "worker", Name: name, Help: help,
		}, labels)
	}
	m := &metrics{
		registry:  prometheus.NewRegistry(),
		consumed:  counter("events_consumed_total", "Events read from the input topic.", "topic"),
		processed: counter("events_processed_total", "Events the processor handled.", "topic"),
		failed: counter("events_failed_total",
			"Processor calls that returned an error, retried ones included.", "topic"),
		deadLettered: counter("events_dead_lettered_total",
			"Events written to the dead-letter topic, by reason.", "topic", "reason"),
		retried: counter("events_retried_total", "Processor calls that were retries.", "topic"),
		duplicates: counter("events_duplicate_total",
			"Inputs skipped as duplicates by the dedup store.", "topic"),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "eventpipe", Subsystem: "worker", Name: "processing_seconds",
			Help:    "Time from reading an event to its outputs being acknowledged.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"topic"}),
		writeFailed: counter("output_write_failures_total",
			"Batches whose outputs (or transaction) the brokers refused; the partition holds "+
				"before the batch and writes it again.", "topic"),
		dedupEvicted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "eventpipe", Subsystem: "worker", Name: "dedup_keys_evicted_total",
			Help: "Event keys the dedup store forgot before their expiry to stay within " +
				"dedupMaxKeys; while it grows, duplicates older than the shortened window pass.",
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "eventpipe", Subsystem: "worker", Name: "partition_lag",
			Help: "Events between the last one handled and the partition's high water mark.",
		}, []string{"topic", "partition"}),
	}
	m.registry.MustRegister(m.consumed, m.processed, m.failed, m.deadLettered, m.retried,
		m.duplicates, m.latency, m.lag, m.writeFailed, m.dedupEvicted,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if dedupKeys != nil {
		m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "eventpipe", Subsystem: "worker", Name: "dedup_keys",
			Help: "Event keys the dedup store holds (about 35 bytes each), expired ones not yet " +
				"collected included.",
		}, dedupKeys))
	}
	m.inConsumed = m.consumed.WithLabelValues(topic)
	m.inProcessed = m.processed.WithLabelValues(topic)
	m.inFailed = m.failed.WithLabelValues(topic)
	m.inRetried = m.retried.WithLabelValues(topic)
	m.inDuplicates = m.duplicates.WithLabelValues(topic)
	m.inWriteFailed = m.writeFailed.WithLabelValues(topic)
	m.inLatency = m.latency.WithLabelValues(topic)
	return m
}

func (m *metrics) setLag(topic string, partition int32, lag int64) {
	m.lag.WithLabelValues(topic, strconv.Itoa(int(partition))).Set(float64(max(lag, 0)))
}

func (m *metrics) dropLag(topic string, partition int32) {
	m.lag.DeleteLabelValues(topic, strconv.Itoa(int(partition)))
}
