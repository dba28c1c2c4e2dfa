package runtime

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/eventpipe/eventpipe/internal/kafka"
	"github.com/eventpipe/eventpipe/workers/config"
)

// changelogLoadTimeout bounds reading one changelog partition at assignment.
const changelogLoadTimeout = 2 * time.Minute

// metadataWaitAttempts and metadataWaitBackoff bound waiting for a new topic.
const (
	metadataWaitAttempts = 20
	metadataWaitBackoff  = 250 * time.Millisecond
)

// changelog is the durable side of the dedup store: a compacted topic whose
// records are keyed by consumer group, source and id, valued with the expiry.
//
// Input partition p is recorded in changelog partition p modulo the
// changelog's partitions, so an assignment loads only the changelog
// partitions of the input partitions it receives.
//
// Limitation: a duplicate is recognised only on the input partition of its
// first copy. Producers that retry an event send it with the same key, so it
// lands on the same partition; two copies with different keys are not caught.
type changelog struct {
	topic      string
	group      string
	ttl        time.Duration
	partitions int32
	client     sarama.Client
	producer   sarama.SyncProducer

	// maxKeys bounds the keys of all stores together, 0 for no bound; each
	// store of an assignment gets an even share.
	maxKeys int64

	mu       sync.Mutex
	stores   map[int32]*dedupStore // by input partition
	storeMax int                   // the share of maxKeys of each store
}

// openChangelog connects to the dedup changelog, creating the topic when it
// is missing with as many partitions as the input topic.
func openChangelog(ctx context.Context, kc kafka.Config, w config.Worker) (*changelog, error) {
	cc, err := saramaConfig(kc, w, roleChangelog, "")
	if err != nil {
		return nil, err
	}
	client, err := sarama.NewClient(kc.BootstrapServers, cc)
	if err != nil {
		return nil, fmt.Errorf("connect for dedup changelog: %w", err)
	}
	c := &changelog{topic: w.DedupTopic, group: w.ConsumerGroup, ttl: w.Delivery.DedupTTL.Duration,
		maxKeys: w.Delivery.DedupMaxKeys, client: client, stores: map[int32]*dedupStore{}}
	if err := c.ensureTopic(ctx, w.InputTopic); err != nil {
		_ = client.Close()
		return nil, err
	}
	// A topic just created may take a moment to appear in the metadata.
	var parts []int32
	for attempt := 0; ; attempt++ {
		parts, err = client.Partitions(c.topic)
		if err == nil || attempt == metadataWaitAttempts || !sleep(ctx, metadataWaitBackoff) {
			break
		}
	}
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("read partitions of dedup changelog %s: %w", c.topic, err)
	}
	c.partitions = int32(len(parts))
	c.producer, err = sarama.NewSyncProducerFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("create dedup changelog producer: %w", err)
	}
	return c, nil
}

// ensureTopic creates the changelog topic. It is compacted, so it keeps the
// last record of each key, and also deleted by age after the dedup TTL, since
// a record older than the TTL has expired anyway.
func (c *changelog) ensureTopic(ctx context.Context, inputTopic string) error {
	admin, err := sarama.NewClusterAdminFromClient(c.client)
	if err != nil {
		return fmt.Errorf("create admin for dedup changelog: %w", err)
	}
	// Closing this admin would close the shared client; it holds nothing else.
	topics, err := admin.DescribeTopics([]string{c.topic, inputTopic})
	if err != nil {
		return fmt.Errorf("describe topics %s and %s: %w", c.topic, inputTopic, err)
	}
	var partitions int32
	var replication int16
	for _, t := range topics {
		if t.Name == c.topic && t.Err == sarama.ErrNoError {
			return nil
		}
		if t.Name == inputTopic {
			if t.Err != sarama.ErrNoError {
				return fmt.Errorf("describe input topic %s: %w", inputTopic, t.Err)
			}
			partitions = int32(len(t.Partitions))
			if len(t.Partitions) > 0 {
				replication = int16(len(t.Partitions[0].Replicas))
			}
		}
	}
	retention := strconv.FormatInt(max(c.ttl, time.Hour).Milliseconds(), 10)
	policy := "compact,delete"
	err = admin.CreateTopic(c.topic, &sarama.TopicDetail{
		NumPartitions:     partitions,
		ReplicationFactor: replication,
		ConfigEntries:     map[string]*string{"cleanup.policy": &policy, "retention.ms": &retention},
	}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return fmt.Errorf("create dedup changelog %s: %w", c.topic, err)
	}
	log.FromContext(ctx).Info("Created dedup changelog", "topic", c.topic, "partitions", partitions)
	return nil
}

func (c *changelog) partitionOf(input int32) int32 { return input % c.partitions }

// store returns the dedup store of an input partition; nil on a nil changelog.
func (c *changelog) store(input int32) *dedupStore {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.stores[input]
	if !ok {
		s = newDedupStore(c.storeMax)
		c.stores[input] = s
	}
	return s
}

// keys is the number of keys the stores hold; 0 on a nil changelog.
func (c *changelog) keys() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.stores {
		n += s.len()
	}
	return n
}

// load replaces the stores with those of the given input partitions, the
// ones assigned, as the changelog holds them; each gets an even share of
// maxKeys.
func (c *changelog) load(ctx context.Context, inputs []int32) error {
	perStore := 0
	if c.maxKeys > 0 {
		// At least one, since 0 would leave a store unbounded.
		perStore = int(max(c.maxKeys/int64(max(len(inputs), 1)), 1))
	}
	c.mu.Lock()
	c.storeMax = perStore
	// A partition assigned again later is loaded again.
	clear(c.stores)
	c.mu.Unlock()
	consumer, err := sarama.NewConsumerFromClient(c.client)
	if err != nil {
		return fmt.Errorf("create changelog consumer: %w", err)
	}
	defer func() { _ = consumer.Close() }()
	for _, input := range inputs {
		start := time.Now()
		s, forgot, err := c.read(ctx, consumer, c.partitionOf(input), perStore)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.stores[input] = s
		c.mu.Unlock()
		log.FromContext(ctx).Info("Loaded dedup changelog", "partition", input,
			"changelogPartition", c.partitionOf(input), "keys", s.len(), "maxKeys", perStore,
			"forgottenAtTheBound", forgot, "took", time.Since(start).Round(time.Millisecond).String())
	}
	return nil
}

// read loads one changelog partition into a store of at most maxKeys keys,
// and says how many keys the bound made it forget.
func (c *changelog) read(
	ctx context.Context, consumer sarama.Consumer, partition int32, maxKeys int,
) (*dedupStore, int, error) {
	s := newDedupStore(maxKeys)
	forgot := 0
	oldest, err := c.client.GetOffset(c.topic, partition, sarama.OffsetOldest)
	if err != nil {
		return nil, 0, fmt.Errorf("read oldest offset of %s/%d: %w", c.topic, partition, err)
	}
	newest, err := c.client.GetOffset(c.topic, partition, sarama.OffsetNewest)
	if err != nil {
		return nil, 0, fmt.Errorf("read newest offset of %s/%d: %w", c.topic, partition, err)
	}
	if newest <= oldest {
		return s, forgot, nil
	}
	pc, err := consumer.ConsumePartition(c.topic, partition, oldest)
	if err != nil {
		return nil, 0, fmt.Errorf("consume %s/%d: %w", c.topic, partition, err)
	}
	defer func() { _ = pc.Close() }()
	prefix := strconv.Quote(c.group) + "|"
	now := time.Now()
	timeout := time.NewTimer(changelogLoadTimeout)
	defer timeout.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-timeout.C:
			return nil, 0, fmt.Errorf("read %s/%d: not done after %v", c.topic, partition,
				changelogLoadTimeout)
		case err := <-pc.Errors():
			return nil, 0, fmt.Errorf("read %s/%d: %w", c.topic, partition, err)
		case msg := <-pc.Messages():
			key := string(msg.Key)
			if strings.HasPrefix(key, prefix) {
				forgot += c.apply(s, key, msg.Value, now).keys
			}
			if msg.Offset >= newest-1 {
				return s, forgot, nil
			}
		}
	}
}

func (c *changelog) apply(s *dedupStore, key string, value []byte, now time.Time) eviction {
	if value == nil {
		s.forget(key)
		return eviction{}
	}
	expiry, err := parseExpiry(value)
	if err != nil || !now.Before(expiry) {
		return eviction{}
	}
	return s.record(key, expiry, now)
}

// write records keys of an input partition, waiting for the acknowledgements.
func (c *changelog) write(
	ctx context.Context, r *Runner, session sarama.ConsumerGroupSession, input int32, keys []string,
) error {
	value := encodeExpiry(time.Now().Add(c.ttl))
	msgs := make([]*sarama.ProducerMessage, len(keys))
	for i, k := range keys {
		msgs[i] = &sarama.ProducerMessage{Topic: c.topic, Partition: c.partitionOf(input),
			Key: sarama.StringEncoder(k), Value: sarama.ByteEncoder(value)}
	}
	return r.send(ctx, session, c.producer, msgs)
}

func (c *changelog) close(ctx context.Context) {
	if err := c.producer.Close(); err != nil {
		log.FromContext(ctx).Error(err, "Cannot close the dedup changelog producer")
	}
	if err := c.client.Close(); err != nil && !errors.Is(err, sarama.ErrClosedClient) {
		log.FromContext(ctx).Error(err, "Cannot close the dedup changelog client")
	}
}
