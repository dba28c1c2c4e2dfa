//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	. "github.com/onsi/gomega"
)

// readIdle is how long a partition may stay silent before its read stops
// short of the high watermark (a transaction marker has an offset but no
// message).
const readIdle = 2 * time.Second

// produceEvents writes CloudEvents in binary content mode, keyed by subject,
// and waits for every acknowledgement.
func produceEvents(topic string, events []cloudevents.Event) {
	p := newProducer()
	defer func() { Expect(p.Close()).To(Succeed()) }()
	ctx := binding.WithForceBinary(context.Background())
	for i := range events {
		e := events[i]
		msg := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(e.Subject())}
		Expect(kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(&e), msg)).To(Succeed())
		_, _, err := p.SendMessage(msg)
		Expect(err).NotTo(HaveOccurred(), "produce event %s to %s", e.ID(), topic)
	}
}

// produceRaw writes messages that are no CloudEvents: what a misconfigured
// producer sends.
func produceRaw(topic string, values map[string]string) {
	p := newProducer()
	defer func() { Expect(p.Close()).To(Succeed()) }()
	for key, value := range values {
		_, _, err := p.SendMessage(&sarama.ProducerMessage{
			Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.StringEncoder(value),
			Headers: []sarama.RecordHeader{{Key: []byte("content-type"), Value: []byte("text/plain")}},
		})
		Expect(err).NotTo(HaveOccurred(), "produce a raw message to %s", topic)
	}
}

func newProducer() sarama.SyncProducer {
	sc, err := env.kafkaConfig.Sarama()
	Expect(err).NotTo(HaveOccurred())
	p, err := sarama.NewSyncProducer(env.kafkaConfig.BootstrapServers, sc)
	Expect(err).NotTo(HaveOccurred(), "connect a producer to %s", env.kafkaBootstrap)
	return p
}

// readTopic returns every committed message of a topic up to the high
// watermark each partition has now, partition by partition.
func readTopic(topic string) ([]*sarama.ConsumerMessage, error) {
	sc, err := env.kafkaConfig.Sarama()
	if err != nil {
		return nil, err
	}
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	c, err := sarama.NewClient(env.kafkaConfig.BootstrapServers, sc)
	if err != nil {
		return nil, fmt.Errorf("connect to Kafka: %w", err)
	}
	defer func() { _ = c.Close() }()
	consumer, err := sarama.NewConsumerFromClient(c)
	if err != nil {
		return nil, fmt.Errorf("create consumer: %w", err)
	}
	defer func() { _ = consumer.Close() }()
	partitions, err := c.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", topic, err)
	}
	var out []*sarama.ConsumerMessage
	for _, p := range partitions {
		msgs, err := readPartition(c, consumer, topic, p)
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
	}
	return out, nil
}

func readPartition(
	c sarama.Client,
	consumer sarama.Consumer,
	topic string,
	partition int32,
) ([]*sarama.ConsumerMessage, error) {
	oldest, err := c.GetOffset(topic, partition, sarama.OffsetOldest)
	if err != nil {
		return nil, fmt.Errorf("oldest offset of %s/%d: %w", topic, partition, err)
	}
	newest, err := c.GetOffset(topic, partition, sarama.OffsetNewest)
	if err != nil {
		return nil, fmt.Errorf("newest offset of %s/%d: %w", topic, partition, err)
	}
	if newest <= oldest {
		return nil, nil
	}
	pc, err := consumer.ConsumePartition(topic, partition, oldest)
	if err != nil {
		return nil, fmt.Errorf("consume %s/%d: %w", topic, partition, err)
	}
	defer func() { _ = pc.Close() }()
	var out []*sarama.ConsumerMessage
	for {
		select {
		case msg := <-pc.Messages():
			out = append(out, msg)
			if msg.Offset >= newest-1 {
				return out, nil
			}
		case err := <-pc.Errors():
			return nil, fmt.Errorf("read %s/%d: %w", topic, partition, err)
		case <-time.After(readIdle):
			return out, nil
		}
	}
}

// toEvent decodes a message as a CloudEvent.
func toEvent(msg *sarama.ConsumerMessage) (*cloudevents.Event, error) {
	return binding.ToEvent(context.Background(), kafka_sarama.NewMessageFromConsumerMessage(msg))
}

// header returns a message header's value, or "".
func header(msg *sarama.ConsumerMessage, key string) string {
	for _, h := range msg.Headers {
		if string(h.Key) == key {
			return string(h.Value)
		}
	}
	return ""
}

// withAdmin runs fn with a Kafka admin client of its own.
func withAdmin(fn func(sarama.ClusterAdmin) error) error {
	sc, err := env.kafkaConfig.Sarama()
	if err != nil {
		return err
	}
	admin, err := sarama.NewClusterAdmin(env.kafkaConfig.BootstrapServers, sc)
	if err != nil {
		return fmt.Errorf("connect to Kafka: %w", err)
	}
	defer func() { _ = admin.Close() }()
	return fn(admin)
}

// topicPartitions returns the partition count of a topic as Kafka has it.
func topicPartitions(topic string) (n int, err error) {
	err = withAdmin(func(admin sarama.ClusterAdmin) error {
		meta, err := admin.DescribeTopics([]string{topic})
		if err != nil {
			return fmt.Errorf("describe topic %s: %w", topic, err)
		}
		if len(meta) != 1 || meta[0].Err != sarama.ErrNoError {
			return fmt.Errorf("topic %s: %v", topic, meta)
		}
		n = len(meta[0].Partitions)
		return nil
	})
	return n, err
}

// groupMembers returns how many members a consumer group has now.
func groupMembers(group string) (n int, err error) {
	err = withAdmin(func(admin sarama.ClusterAdmin) error {
		groups, err := admin.DescribeConsumerGroups([]string{group})
		if err != nil {
			return fmt.Errorf("describe consumer group %s: %w", group, err)
		}
		if len(groups) != 1 || groups[0].Err != sarama.ErrNoError {
			return fmt.Errorf("consumer group %s: %+v", group, groups)
		}
		n = len(groups[0].Members)
		return nil
	})
	return n, err
}
