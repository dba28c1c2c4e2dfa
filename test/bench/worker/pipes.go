package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// baseline is the raw pipe: a consumer group handing every record, key,
// value and headers unchanged, to an async producer, marking offsets as it
// goes and committing them automatically. It does none of the worker's work
// (decoding, acknowledged commits, dead letters), so it is the ceiling.
type baseline struct {
	out      string
	producer sarama.AsyncProducer
}

func (b *baseline) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (b *baseline) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (b *baseline) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for msg := range c.Messages() {
		pm := &sarama.ProducerMessage{Topic: b.out, Key: sarama.ByteEncoder(msg.Key),
			Value: sarama.ByteEncoder(msg.Value)}
		for _, h := range msg.Headers {
			pm.Headers = append(pm.Headers, *h)
		}
		b.producer.Input() <- pm
		s.MarkMessage(msg, "")
	}
	return nil
}

func startBaseline(o options, in, out, group string) (func(), error) {
	sc, err := o.kc.Sarama()
	if err != nil {
		return nil, err
	}
	sc.Producer.Return.Successes = false
	sc.Producer.Flush.Bytes = 256 << 10
	sc.Producer.Flush.Frequency = time.Millisecond
	sc.Consumer.Fetch.Default = 1 << 20
	sc.ChannelBufferSize = 1024
	producer, err := sarama.NewAsyncProducer(o.kc.BootstrapServers, sc)
	if err != nil {
		return nil, err
	}
	go func() {
		for pe := range producer.Errors() {
			fmt.Println("baseline: produce:", pe.Err)
		}
	}()
	cg, err := sarama.NewConsumerGroup(o.kc.BootstrapServers, group, sc)
	if err != nil {
		_ = producer.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h := &baseline{out: out, producer: producer}
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{in}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				fmt.Println("baseline: consume:", err)
			}
		}
	}()
	return func() {
		cancel()
		<-done
		_ = cg.Close()
		_ = producer.Close()
	}, nil
}

// reader reads the output topic and records when each event arrived and
// how long after it was produced.
type reader struct {
	consumer sarama.Consumer
	client   sarama.Client
	parts    []sarama.PartitionConsumer
	mu       sync.Mutex
	// since is when the events that count were sent (Unix nanoseconds);
	// the ones sent before are left out.
	since     int64
	count     int
	first     time.Time
	last      time.Time
	latencies []time.Duration
}

func newReader(o options, topic string, readCommitted bool) (*reader, error) {
	sc, err := o.kc.Sarama()
	if err != nil {
		return nil, err
	}
	if readCommitted {
		sc.Consumer.IsolationLevel = sarama.ReadCommitted
	}
	sc.Consumer.Fetch.Default = 1 << 20
	sc.Consumer.MaxWaitTime = 10 * time.Millisecond
	client, err := sarama.NewClient(o.kc.BootstrapServers, sc)
	if err != nil {
		return nil, err
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	r := &reader{consumer: consumer, client: client}
	parts, err := client.Partitions(topic)
	if err != nil {
		r.close()
		return nil, err
	}
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			r.close()
			return nil, err
		}
		r.parts = append(r.parts, pc)
		go func() {
			for msg := range pc.Messages() {
				r.add(msg)
			}
		}()
	}
	return r, nil
}

func (r *reader) add(msg *sarama.ConsumerMessage) {
	now := time.Now()
	var sent int64
	for _, h := range msg.Headers {
		if string(h.Key) == "ce_"+sentExtension {
			sent, _ = strconv.ParseInt(string(h.Value), 10, 64)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if sent > 0 && sent < r.since {
		return
	}
	if r.count == 0 {
		r.first = now
	}
	r.count++
	r.last = now
	if sent > 0 {
		r.latencies = append(r.latencies, now.Sub(time.Unix(0, sent)))
	}
}

// reset starts counting again, from the events sent at since on.
func (r *reader) reset(since time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.since = since.UnixNano()
	r.count = 0
	r.latencies = nil
}

// wait returns when n events arrived since the last reset.
func (r *reader) wait(n int, timeout time.Duration) (time.Time, time.Time, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		count, first, last := r.count, r.first, r.last
		r.mu.Unlock()
		if count >= n {
			return first, last, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Time{}, time.Time{}, fmt.Errorf("only %d of %d events after %v", r.count, n, timeout)
}

func (r *reader) percentiles() (time.Duration, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.latencies) == 0 {
		return 0, 0
	}
	l := append([]time.Duration(nil), r.latencies...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[len(l)/2], l[len(l)*99/100]
}

func (r *reader) close() {
	for _, pc := range r.parts {
		_ = pc.Close()
	}
	_ = r.consumer.Close()
	_ = r.client.Close()
}
