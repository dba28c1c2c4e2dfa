package runtime

import (
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventpipe/eventpipe/internal/kafka"
	"github.com/eventpipe/eventpipe/workers/config"
)

// role is what a sarama client of the worker is for.
type role int

const (
	// roleConsumer reads the input topic as a member of the consumer group.
	roleConsumer role = iota
	// roleProducer writes outputs and dead letters (AtLeastOnce, Idempotent).
	roleProducer
	// roleChangelog writes the dedup changelog to chosen partitions.
	roleChangelog
	// roleTransactional writes outputs and offsets of one input partition in
	// transactions (ExactlyOnce).
	roleTransactional
)

// Tuning of the worker's clients. The batches are what makes the throughput:
// a partition hands the producer every output of a batch of inputs at once
// and waits for the acknowledgements once.
const (
	fetchDefaultBytes = 1 << 20
	fetchMaxWait      = 100 * time.Millisecond
	channelBuffer     = 1024
	flushBytes        = 256 << 10
	flushFrequency    = time.Millisecond
	producerRetries   = 5
	producerBackoff   = 100 * time.Millisecond
	sessionTimeout    = 10 * time.Second
	heartbeatInterval = 3 * time.Second
	txnTimeout        = 30 * time.Second
	// A transaction usually begins while the coordinator still writes the
	// markers of the one before, and is told CONCURRENT_TRANSACTIONS; sarama
	// waits 20ms before asking again, several times longer than the markers
	// take under load. Asking after 1ms, then doubling, starts the next
	// transaction within a few milliseconds of the markers.
	txnRetryBackoffFirst = time.Millisecond
	txnRetryBackoffCap   = 100 * time.Millisecond
)

// saramaConfig starts from the one sarama configuration of internal/kafka and
// adjusts it for a role. txnID is the transactional.id of roleTransactional.
func saramaConfig(kc kafka.Config, w config.Worker, r role, txnID string) (*sarama.Config, error) {
	sc, err := kc.Sarama()
	if err != nil {
		return nil, fmt.Errorf("build Kafka config: %w", err)
	}
	sc.ChannelBufferSize = channelBuffer

	switch r {
	case roleConsumer:
		sc.Consumer.Return.Errors = true
		sc.Consumer.Fetch.Default = fetchDefaultBytes
		sc.Consumer.MaxWaitTime = fetchMaxWait
		// Offsets are committed by the partition loops once the outputs of a
		// batch are acknowledged, or by the transaction that wrote them.
		sc.Consumer.Offsets.AutoCommit.Enable = false
		sc.Consumer.Offsets.Initial = sarama.OffsetOldest
		if w.InitialOffset == config.Latest {
			sc.Consumer.Offsets.Initial = sarama.OffsetNewest
		}
		// An upstream ExactlyOnce Consumer's aborted outputs must not be read.
		sc.Consumer.IsolationLevel = sarama.ReadCommitted
		sc.Consumer.Group.Session.Timeout = sessionTimeout
		sc.Consumer.Group.Heartbeat.Interval = heartbeatInterval
		sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{
			sarama.NewBalanceStrategyRoundRobin()}
	case roleProducer, roleChangelog:
		sc.Producer.Flush.Bytes = flushBytes
		sc.Producer.Flush.Frequency = flushFrequency
		sc.Producer.Retry.Max = producerRetries
		sc.Producer.Retry.Backoff = producerBackoff
		if r == roleChangelog {
			sc.Producer.Partitioner = sarama.NewManualPartitioner
		}
	case roleTransactional:
		sc.Producer.Idempotent = true
		sc.Producer.Transaction.ID = txnID
		sc.Producer.Transaction.Timeout = txnTimeout
		sc.Producer.Transaction.Retry.BackoffFunc = txnRetryBackoff
		sc.Producer.Flush.Bytes = flushBytes
		sc.Producer.Flush.Frequency = flushFrequency
		sc.Producer.Retry.Max = producerRetries
		sc.Producer.Retry.Backoff = producerBackoff
		sc.Net.MaxOpenRequests = 1
	}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("validate Kafka config of the worker: %w", err)
	}
	return sc, nil
}

// transactionalID fences the previous owner of a partition: the producer of
// the next owner uses the same id, and initialising it aborts the old one's
// open transaction and rejects its later writes.
func transactionalID(group, topic string, partition int32) string {
	return fmt.Sprintf("eventpipe|%s|%s|%d", group, topic, partition)
}

// txnRetryBackoff is the wait before the retry after retries earlier ones of
// a transactional request.
func txnRetryBackoff(retries, _ int) time.Duration {
	if retries >= 7 { // 1ms << 7 passes the cap; a larger shift could overflow
		return txnRetryBackoffCap
	}
	return min(txnRetryBackoffFirst<<retries, txnRetryBackoffCap)
}
