package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventpipe/eventpipe/internal/kafka"
)

// viewEvery is how often the live view is printed.
const viewEvery = 3 * time.Second

// live produces the load, counts the outputs and prints the view until ctx
// ends, the duration elapses or the load fails.
func (d *demo) live(ctx context.Context) error {
	if d.cfg.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.cfg.duration)
		defer cancel()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	kcfg := kafka.Config{BootstrapServers: kafka.ParseBootstrapServers(d.kafkaBootstrap), ClientID: "eventpipe-demo"}
	sc, err := kcfg.Sarama()
	if err != nil {
		return fmt.Errorf("build the Kafka client config: %w", err)
	}
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	c, err := sarama.NewClient(kcfg.BootstrapServers, sc)
	if err != nil {
		return fmt.Errorf("connect to Kafka at %s: %w", d.kafkaBootstrap, err)
	}
	defer func() { _ = c.Close() }()

	closeCounters, err := d.countOutputs(c)
	defer closeCounters()
	if err != nil {
		return err
	}
	p, err := sarama.NewSyncProducerFromClient(c)
	if err != nil {
		return fmt.Errorf("create a producer: %w", err)
	}
	defer func() { _ = p.Close() }()
	pr := &producer{p: p, stats: d.stats, rng: rand.New(rand.NewPCG(1, 2))}
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		if err := pr.produce(ctx, d.cfg.rate); err != nil {
			cancel(err)
		}
	}()
	err = d.viewLoop(ctx)
	// The producer is closed only once nothing sends on it any more.
	cancel(nil)
	<-produced
	return err
}

func (d *demo) viewLoop(ctx context.Context) error {
	start := time.Now()
	t := time.NewTicker(viewEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) &&
				!errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return nil
		case <-t.C:
			d.printView(ctx, time.Since(start))
		}
	}
}

// countOutputs reads every partition of the output streams from the start
// and counts what arrives, in the background until the returned func closes
// the partition consumers.
func (d *demo) countOutputs(c sarama.Client) (func(), error) {
	consumer, err := sarama.NewConsumerFromClient(c)
	if err != nil {
		return func() {}, fmt.Errorf("create a consumer: %w", err)
	}
	var open []sarama.PartitionConsumer
	closeAll := func() {
		for _, pc := range open {
			_ = pc.Close()
		}
		_ = consumer.Close()
	}
	for stream, counter := range map[string]*atomic.Int64{streamRouted: &d.stats.routed, streamDLQ: &d.stats.dlq} {
		topic := d.stats.topics[stream]
		partitions, err := c.Partitions(topic)
		if err != nil {
			return closeAll, fmt.Errorf("list the partitions of %s: %w", topic, err)
		}
		for _, partition := range partitions {
			pc, err := consumer.ConsumePartition(topic, partition, sarama.OffsetOldest)
			if err != nil {
				return closeAll, fmt.Errorf("consume %s/%d: %w", topic, partition, err)
			}
			open = append(open, pc)
			go count(pc, counter)
		}
	}
	return closeAll, nil
}

// count counts a partition's messages until its consumer closes.
func count(pc sarama.PartitionConsumer, counter *atomic.Int64) {
	for range pc.Messages() {
		counter.Add(1)
	}
}
