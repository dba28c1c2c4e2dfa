package runtime

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"
	cloudevents "github.com/cloudevents/sdk-go/v2"

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
