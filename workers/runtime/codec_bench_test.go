package runtime

import (
	"context"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"

	"github.com/eventpipe/eventpipe/workers/processor"
)

// benchRecord is a 1 KiB CloudEvent in binary mode as a worker reads it.
func benchRecord(b *testing.B) *sarama.ConsumerMessage {
	e := cloudevents.NewEvent()
	e.SetID("evt-1")
	e.SetSource("https://shop.example.com/checkout")
	e.SetType("com.example.order.created")
	e.SetExtension("partitionkey", "customer-7")
	if err := e.SetData(cloudevents.ApplicationJSON, map[string]string{"pad": strings.Repeat("x", 1014)}); err != nil {
		b.Fatal(err)
	}
	pm := &sarama.ProducerMessage{}
	ctx := binding.WithForceBinary(context.Background())
	if err := kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(&e), pm); err != nil {
		b.Fatal(err)
	}
	value, _ := pm.Value.Encode()
	msg := &sarama.ConsumerMessage{Topic: "orders", Partition: 2, Offset: 12345, Value: value}
	for i := range pm.Headers {
		msg.Headers = append(msg.Headers, &pm.Headers[i])
	}
	return msg
}

// BenchmarkCodec measures the decoding and encoding of one event, the
// worker's own share of the cost of an event.
func BenchmarkCodec(b *testing.B) {
	msg := benchRecord(b)
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decode(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	e, err := decode(msg)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encode(processor.Output{Event: e}, "orders-routed"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
