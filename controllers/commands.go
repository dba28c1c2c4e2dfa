package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/internal/kafka"
)

const (
	// DefaultCommandLookback is how far back the listener reads a command
	// stream when it starts: commands older than this are stale anyway.
	DefaultCommandLookback = 2 * time.Minute

	// commandRetryDelay is the wait before the listener dials again after
	// losing the brokers.
	commandRetryDelay = 2 * time.Second
)

// ReceivedCommand is a scale command as the listener received it.
type ReceivedCommand struct {
	eventpipev1alpha1.ScaleCommand
	// Time is the event's time, or when it was read if it has none.
	Time time.Time
	// ID is the CloudEvents id.
	ID string
}

// CommandListener reads scale commands from the command streams of
// AutoscalePolicies, keeps the newest command per target Consumer, and wakes
// the AutoscalePolicy reconciler through a channel source, so a command acts
// at once rather than at the next sync.
type CommandListener struct {
	kafka    kafka.Config
	lookback time.Duration
	events   chan event.GenericEvent

	mu     sync.Mutex
	topics map[string]string // topic -> namespace of its stream
	latest map[types.NamespacedName]ReceivedCommand
	added  chan string
}

// NewCommandListener returns a listener for the brokers of config.
func NewCommandListener(config kafka.Config) *CommandListener {
	return &CommandListener{
		kafka:    config,
		lookback: DefaultCommandLookback,
		events:   make(chan event.GenericEvent, 256),
		topics:   map[string]string{},
		latest:   map[types.NamespacedName]ReceivedCommand{},
		added:    make(chan string, 64),
	}
}

// Watch makes the listener read topic, the command stream of a policy in
// namespace. Calling it again for a known topic does nothing.
func (l *CommandListener) Watch(topic, namespace string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.topics[topic]; ok {
		return
	}
	l.topics[topic] = namespace
	select {
	case l.added <- topic:
	default:
		// Start reads the whole topic set again when it (re)connects.
	}
}

// Latest returns the newest command for a Consumer.
func (l *CommandListener) Latest(namespace, consumer string) (ReceivedCommand, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.latest[types.NamespacedName{Namespace: namespace, Name: consumer}]
	return c, ok
}

// Source is the channel source that wakes the policies targeting a Consumer
// a command arrived for.
func (l *CommandListener) Source(c client.Reader) source.Source {
	return source.Channel(l.events, handler.EnqueueRequestsFromMapFunc(
		func(ctx context.Context, o client.Object) []reconcile.Request {
			return requestsByIndex(ctx, c, &eventpipev1alpha1.AutoscalePolicyList{}, o.GetNamespace(),
				policyTargetIndex, o.GetName())
		}))
}

// NeedLeaderElection is true: only the leader acts on commands.
func (l *CommandListener) NeedLeaderElection() bool { return true }

// Start reads the command streams until ctx ends, dialling again after a
// connection failure.
func (l *CommandListener) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("commands")
	for {
		err := l.consume(ctx)
		if ctx.Err() != nil {
			return nil
		}
		logger.Error(err, "Lost the command streams; dialling again", "brokers", l.kafka.BootstrapServers)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(commandRetryDelay):
		}
	}
}

// consume reads every watched topic, and topics watched later, with one
// client, until ctx ends or the client fails.
func (l *CommandListener) consume(ctx context.Context) error {
	sc, err := l.kafka.Sarama()
	if err != nil {
		return err
	}
	client, err := sarama.NewClient(l.kafka.BootstrapServers, sc)
	if err != nil {
		return fmt.Errorf("connect to Kafka: %w", err)
	}
	defer func() { _ = client.Close() }()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("create consumer: %w", err)
	}
	defer func() { _ = consumer.Close() }()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	failed := make(chan error, 1)
	started := map[string]bool{}
	start := func(topic string) {
		if started[topic] {
			return
		}
		if err := l.consumeTopic(ctx, client, consumer, topic); err != nil {
			select {
			case failed <- err:
			default:
			}
			return
		}
		started[topic] = true
	}

	l.mu.Lock()
	topics := make([]string, 0, len(l.topics))
	for t := range l.topics {
		topics = append(topics, t)
	}
	l.mu.Unlock()
	for _, t := range topics {
		start(t)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-failed:
			return err
		case t := <-l.added:
			start(t)
		}
	}
}

// consumeTopic starts a reader per partition of topic, from the first event
// younger than the lookback.
func (l *CommandListener) consumeTopic(
	ctx context.Context,
	client sarama.Client,
	consumer sarama.Consumer,
	topic string,
) error {
	partitions, err := consumer.Partitions(topic)
	if err != nil {
		return fmt.Errorf("list partitions of command stream %s: %w", topic, err)
	}
	since := time.Now().Add(-l.lookback).UnixMilli()
	for _, p := range partitions {
		offset, err := client.GetOffset(topic, p, since)
		if err != nil {
			return fmt.Errorf("find offset of %s/%d: %w", topic, p, err)
		}
		if offset == sarama.OffsetNewest || offset < 0 {
			offset = sarama.OffsetNewest
		}
		pc, err := consumer.ConsumePartition(topic, p, offset)
		if err != nil {
			return fmt.Errorf("consume %s/%d: %w", topic, p, err)
		}
		go l.read(ctx, pc)
	}
	return nil
}

func (l *CommandListener) read(ctx context.Context, pc sarama.PartitionConsumer) {
	defer func() { _ = pc.Close() }()
	logger := log.FromContext(ctx).WithName("commands")
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-pc.Messages():
			if !ok {
				return
			}
			cmd, err := decodeCommand(msg)
			if err != nil {
				logger.Info("Ignored an event on a command stream", "topic", msg.Topic,
					"partition", msg.Partition, "offset", msg.Offset, "reason", err.Error())
				continue
			}
			l.record(msg.Topic, cmd)
		}
	}
}

// record keeps cmd if it is the newest for its target and wakes the target's
// policies.
func (l *CommandListener) record(topic string, cmd ReceivedCommand) {
	l.mu.Lock()
	ns := l.topics[topic]
	key := types.NamespacedName{Namespace: ns, Name: cmd.Target}
	if prev, ok := l.latest[key]; ok && prev.Time.After(cmd.Time) {
		l.mu.Unlock()
		return
	}
	l.latest[key] = cmd
	l.mu.Unlock()

	target := &eventpipev1alpha1.Consumer{}
	target.Namespace, target.Name = ns, cmd.Target
	select {
	case l.events <- event.GenericEvent{Object: target}:
	default:
		// The queue is full of wake-ups already; the next sync reads the command.
	}
}

// decodeCommand reads a scale command CloudEvent, in binary or structured mode.
func decodeCommand(msg *sarama.ConsumerMessage) (ReceivedCommand, error) {
	ev, err := binding.ToEvent(context.Background(), kafka_sarama.NewMessageFromConsumerMessage(msg))
	if err != nil {
		return ReceivedCommand{}, fmt.Errorf("not a CloudEvent: %w", err)
	}
	if ev.Type() != eventpipev1alpha1.ScaleCommandType {
		return ReceivedCommand{}, fmt.Errorf("type %q is not %s", ev.Type(), eventpipev1alpha1.ScaleCommandType)
	}
	var cmd ReceivedCommand
	if err := json.Unmarshal(ev.Data(), &cmd.ScaleCommand); err != nil {
		return ReceivedCommand{}, fmt.Errorf("data is not a scale command: %w", err)
	}
	if cmd.Target == "" || (cmd.DesiredReplicas == nil) == (cmd.Step == nil) {
		return ReceivedCommand{}, fmt.Errorf("a scale command names a target and one of desiredReplicas or step")
	}
	cmd.ID, cmd.Time = ev.ID(), ev.Time()
	if cmd.Time.IsZero() {
		cmd.Time = msg.Timestamp
	}
	return cmd, nil
}
