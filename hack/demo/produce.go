package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

// The names of the showcase's EventStreams and its Consumer.
const (
	streamOrders   = "orders"
	streamRouted   = "orders-routed"
	streamDLQ      = "orders-dlq"
	streamCommands = "scale-commands"
	router         = "order-router"
)

// The shape of the load.
const (
	tick          = 50 * time.Millisecond
	maxPerTick    = 1000
	burstAfter    = 30 * time.Second
	burstSize     = 5000
	burstBatch    = 500
	malformedEach = 2 * time.Second
	unroutedEach  = 5 * time.Second
	firstCommand  = 20 * time.Second
	commandEach   = 45 * time.Second
	checkout      = "//shop.example.com/checkout/eu-west-1"
)

var (
	orderTypes = []string{
		"com.example.order.placed", "com.example.order.placed", "com.example.order.placed",
		"com.example.order.paid", "com.example.order.paid", "com.example.order.shipped",
	}
	skus       = []string{"SKU-TEE-042", "SKU-MUG-007", "SKU-CAP-113", "SKU-SOCK-3P", "SKU-HOOD-921"}
	countries  = []string{"DE", "FR", "NL", "ES", "IT", "PL"}
	malformeds = []string{
		`{"order":"ord_legacy","status":"PLACED"`,
		"ORDER ord_legacy PLACED 19.99 EUR",
		`<order id="ord_legacy"/>`,
	}
)

// stats counts what the demo produced and what it read back from Kafka.
type stats struct {
	topics    map[string]string
	orders    atomic.Int64
	unrouted  atomic.Int64
	malformed atomic.Int64
	commands  atomic.Int64
	routed    atomic.Int64
	dlq       atomic.Int64
	burstSent atomic.Bool
	lastCmd   atomic.Value // string
}

// producer writes the demo's events.
type producer struct {
	p     sarama.SyncProducer
	stats *stats
	seq   int
	rng   *rand.Rand
}

// produce runs the load until ctx ends: rate order events a second, a burst
// after burstAfter, a malformed message or an unrouted type now and then, and
// a scale command every commandEach.
func (pr *producer) produce(ctx context.Context, rate int) error {
	start := time.Now()
	steady := 0
	t := time.NewTicker(tick)
	defer t.Stop()
	var lastMalformed, lastUnrouted, nextCommand = start, start, start.Add(firstCommand)
	replicas := []int32{3, 1}
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			// What is due by now, so a slow acknowledgement delays events
			// rather than lowering the rate.
			due := min(int(now.Sub(start))*rate/int(time.Second)-steady, maxPerTick)
			if err := pr.orders(due); err != nil {
				return err
			}
			steady += due
			if !pr.stats.burstSent.Load() && now.Sub(start) >= burstAfter {
				if err := pr.burst(); err != nil {
					return err
				}
			}
			if now.Sub(lastMalformed) >= malformedEach {
				lastMalformed = now
				if err := pr.malformedMessage(); err != nil {
					return err
				}
			}
			if now.Sub(lastUnrouted) >= unroutedEach {
				lastUnrouted = now
				if err := pr.send(streamOrders, pr.unroutedEvent()); err != nil {
					return err
				}
				pr.stats.unrouted.Add(1)
			}
			if now.After(nextCommand) {
				nextCommand = now.Add(commandEach)
				if err := pr.command(replicas[pr.stats.commands.Load()%2]); err != nil {
					return err
				}
			}
		}
	}
}

func (pr *producer) orders(n int) error {
	if n <= 0 {
		return nil
	}
	msgs := make([]*sarama.ProducerMessage, 0, n)
	for range n {
		m, err := pr.message(streamOrders, pr.orderEvent())
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	if err := pr.p.SendMessages(msgs); err != nil {
		return fmt.Errorf("produce %d order events: %w", n, err)
	}
	pr.stats.orders.Add(int64(n))
	return nil
}

func (pr *producer) burst() error {
	pr.stats.burstSent.Store(true)
	for sent := 0; sent < burstSize; sent += burstBatch {
		if err := pr.orders(burstBatch); err != nil {
			return fmt.Errorf("produce the burst: %w", err)
		}
	}
	return nil
}

func (pr *producer) orderEvent() cloudevents.Event {
	pr.seq++
	order := fmt.Sprintf("ord_%07d", pr.seq)
	qty := 1 + pr.rng.IntN(3)
	price := 9 + pr.rng.IntN(90)
	data := map[string]any{
		"orderId":  order,
		"customer": fmt.Sprintf("cus_%05d", pr.rng.IntN(40000)),
		"lines":    []map[string]any{{"sku": skus[pr.rng.IntN(len(skus))], "quantity": qty}},
		"total":    map[string]any{"value": fmt.Sprintf("%d.99", qty*price), "currency": "EUR"},
		"shipTo":   map[string]any{"country": countries[pr.rng.IntN(len(countries))]},
	}
	return newEvent(fmt.Sprintf("evt_%07d", pr.seq), orderTypes[pr.seq%len(orderTypes)], order, data)
}

// unroutedEvent is a type no route matches: the router dead-letters it.
func (pr *producer) unroutedEvent() cloudevents.Event {
	pr.seq++
	sku := skus[pr.rng.IntN(len(skus))]
	return newEvent(fmt.Sprintf("evt_%07d", pr.seq), "com.example.inventory.adjusted", sku,
		map[string]any{"sku": sku, "delta": -1 - pr.rng.IntN(5), "warehouse": "ams-1"})
}

func newEvent(id, eventType, subject string, data any) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetSource(checkout)
	e.SetType(eventType)
	e.SetSubject(subject)
	e.SetTime(time.Now().UTC())
	e.SetExtension("schemaversion", "1")
	// Data of these types always marshals; SetData fails only for a bad content type.
	_ = e.SetData(cloudevents.ApplicationJSON, data)
	return e
}

// malformedMessage is what a misconfigured producer sends: no CloudEvent.
func (pr *producer) malformedMessage() error {
	_, _, err := pr.p.SendMessage(&sarama.ProducerMessage{
		Topic: pr.stats.topics[streamOrders], Key: sarama.StringEncoder("legacy"),
		Value:   sarama.StringEncoder(malformeds[pr.stats.malformed.Load()%int64(len(malformeds))]),
		Headers: []sarama.RecordHeader{{Key: []byte("content-type"), Value: []byte("text/plain")}},
	})
	if err != nil {
		return fmt.Errorf("produce a malformed message: %w", err)
	}
	pr.stats.malformed.Add(1)
	return nil
}

// command asks the autoscaler for a number of order-router workers.
func (pr *producer) command(replicas int32) error {
	reason := fmt.Sprintf("demo: expect %d workers of load", replicas)
	e := cloudevents.NewEvent()
	e.SetID(fmt.Sprintf("cmd_%d", time.Now().UnixNano()))
	e.SetSource("//monitoring.example.com/infra-monitoring")
	e.SetType(eventpipev1alpha1.ScaleCommandType)
	e.SetSubject(router)
	e.SetTime(time.Now().UTC())
	cmd := eventpipev1alpha1.ScaleCommand{Target: router, DesiredReplicas: &replicas, Reason: reason}
	if err := e.SetData(cloudevents.ApplicationJSON, cmd); err != nil {
		return fmt.Errorf("encode a scale command: %w", err)
	}
	if err := pr.send(streamCommands, e); err != nil {
		return err
	}
	pr.stats.commands.Add(1)
	pr.stats.lastCmd.Store(fmt.Sprintf("desiredReplicas=%d at %s", replicas, time.Now().Format("15:04:05")))
	return nil
}

func (pr *producer) send(stream string, e cloudevents.Event) error {
	m, err := pr.message(stream, e)
	if err != nil {
		return err
	}
	if _, _, err := pr.p.SendMessage(m); err != nil {
		return fmt.Errorf("produce event %s to %s: %w", e.ID(), m.Topic, err)
	}
	return nil
}

// message encodes a CloudEvent in binary content mode, keyed by its subject.
func (pr *producer) message(stream string, e cloudevents.Event) (*sarama.ProducerMessage, error) {
	m := &sarama.ProducerMessage{Topic: pr.stats.topics[stream], Key: sarama.StringEncoder(e.Subject())}
	ctx := binding.WithForceBinary(context.Background())
	if err := kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(&e), m); err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.ID(), err)
	}
	return m, nil
}
