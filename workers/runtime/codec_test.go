package runtime

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"

	"github.com/eventpipe/eventpipe/workers/processor"
)

func sampleEvent() cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID("id-1")
	e.SetSource("src")
	e.SetType("com.example.order.created")
	_ = e.SetData(cloudevents.ApplicationJSON, map[string]int{"n": 1})
	return e
}

func TestOutputKey(t *testing.T) {
	withExt := sampleEvent()
	withExt.SetExtension("partitionkey", "pk")
	withExt.SetSubject("subj")
	withSubject := sampleEvent()
	withSubject.SetSubject("subj")
	tests := []struct {
		name string
		out  processor.Output
		want string
	}{
		{name: "processor key wins", out: processor.Output{Key: "chosen", Event: withExt}, want: "chosen"},
		{name: "partitionkey extension", out: processor.Output{Event: withExt}, want: "pk"},
		{name: "subject", out: processor.Output{Event: withSubject}, want: "subj"},
		{name: "id", out: processor.Output{Event: sampleEvent()}, want: "id-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := outputKey(tt.out); got != tt.want {
				t.Errorf("outputKey() = %q, want %q", got, tt.want)
			}
		})
	}
}

func headers(kv ...string) []*sarama.RecordHeader {
	var hs []*sarama.RecordHeader
	for i := 0; i < len(kv); i += 2 {
		hs = append(hs, &sarama.RecordHeader{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return hs
}

func TestDecode(t *testing.T) {
	binary := headers("ce_specversion", "1.0", "ce_id", "1", "ce_source", "s",
		"ce_type", "t", "content-type", "application/json")
	tests := []struct {
		name       string
		msg        *sarama.ConsumerMessage
		wantReason Reason
	}{
		{name: "binary mode", msg: &sarama.ConsumerMessage{Headers: binary, Value: []byte(`{"a":1}`)}},
		{name: "structured mode", msg: &sarama.ConsumerMessage{
			Headers: headers("content-type", "application/cloudevents+json"),
			Value:   []byte(`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":1}}`),
		}},
		{name: "plain string", msg: &sarama.ConsumerMessage{Value: []byte("hello")},
			wantReason: ReasonNotCloudEvent},
		{name: "binary with broken JSON data", msg: &sarama.ConsumerMessage{Headers: binary,
			Value: []byte(`{"a":`)}, wantReason: ReasonInvalidData},
		{name: "structured with broken JSON", msg: &sarama.ConsumerMessage{
			Headers: headers("content-type", "application/cloudevents+json"),
			Value:   []byte(`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{`),
		}, wantReason: ReasonInvalidCloudEvent},
		{name: "binary without id", msg: &sarama.ConsumerMessage{
			Headers: headers("ce_specversion", "1.0", "ce_source", "s", "ce_type", "t"),
		}, wantReason: ReasonInvalidCloudEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			event, err := decode(tt.msg)
			var de *decodeError
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("decode() error = %v", err)
				}
				if _, ok := event.Extensions()["kafkaoffset"]; ok {
					t.Errorf("decoded event keeps the kafkaoffset extension")
				}
				return
			}
			if !errors.As(err, &de) || de.reason != tt.wantReason {
				t.Fatalf("decode() error = %v, want reason %s", err, tt.wantReason)
			}
		})
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	e := sampleEvent()
	e.SetExtension("partitionkey", "pk")
	pm, err := encode(processor.Output{Event: e}, "out")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := pm.Key.Encode()
	value, _ := pm.Value.Encode()
	msg := &sarama.ConsumerMessage{Topic: "out", Key: key, Value: value}
	for i := range pm.Headers {
		msg.Headers = append(msg.Headers, &pm.Headers[i])
	}
	if string(key) != "pk" {
		t.Errorf("key = %q, want pk", key)
	}
	got, err := decode(msg)
	if err != nil {
		t.Fatalf("decode(encode()) error = %v", err)
	}
	if got.ID() != e.ID() || string(got.Data()) != string(e.Data()) {
		t.Errorf("round trip = %v, want %v", got, e)
	}
}

// TestEncodeMatchesKafkaSarama holds the worker's binary-mode writer to the
// one of sdk-go's kafka_sarama binding: the same headers with the same values
// and the same value bytes, for events using every attribute.
func TestEncodeMatchesKafkaSarama(t *testing.T) {
	full := sampleEvent()
	full.SetSubject("orders/42")
	full.SetTime(time.Date(2026, 12, 3, 10, 4, 5, 123456789, time.UTC))
	full.SetDataSchema("https://schemas.example.com/order/v2")
	full.SetExtension("partitionkey", "customer-7")
	full.SetExtension("attempt", 3)
	full.SetExtension("sampled", true)
	full.SetExtension("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	v03 := sampleEvent()
	v03.SetSpecVersion(cloudevents.VersionV03)
	noData := cloudevents.NewEvent()
	noData.SetID("id-2")
	noData.SetSource("src")
	noData.SetType("com.example.ping")
	text := sampleEvent()
	_ = text.SetData("text/plain", []byte("plain words"))

	for name, e := range map[string]cloudevents.Event{"every attribute": full, "v0.3": v03,
		"no data": noData, "text data": text} {
		t.Run(name, func(t *testing.T) {
			got, err := encode(processor.Output{Event: e}, "out")
			if err != nil {
				t.Fatalf("encode() error = %v", err)
			}
			want := &sarama.ProducerMessage{Topic: "out"}
			ctx := kafka_sarama.WithSkipKeyMapping(binding.WithForceBinary(context.Background()))
			if err := kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(&e), want); err != nil {
				t.Fatalf("kafka_sarama.WriteProducerMessage() error = %v", err)
			}
			if g, w := headerMap(got.Headers), headerMap(want.Headers); !maps.Equal(g, w) {
				t.Errorf("headers = %v, kafka_sarama writes %v", g, w)
			}
			if g, w := encoded(t, got.Value), encoded(t, want.Value); !bytes.Equal(g, w) {
				t.Errorf("value = %q, kafka_sarama writes %q", g, w)
			}
		})
	}
}

func headerMap(hs []sarama.RecordHeader) map[string]string {
	m := map[string]string{}
	for _, h := range hs {
		m[string(h.Key)] = string(h.Value)
	}
	return m
}

func encoded(t *testing.T, e sarama.Encoder) []byte {
	t.Helper()
	if e == nil {
		return nil
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
