package runtime

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"
)

func TestDeadLetterHeaders(t *testing.T) {
	tests := []struct {
		name     string
		original []*sarama.RecordHeader
		dl       deadLetter
		want     map[string]string
	}{
		{
			name:     "keeps the original headers",
			original: []*sarama.RecordHeader{{Key: []byte("ce_id"), Value: []byte("42")}},
			dl:       deadLetter{reason: ReasonRetriesExhausted, err: errors.New("down"), attempts: 5},
			want: map[string]string{
				"ce_id": "42", HeaderDLQReason: "RetriesExhausted", HeaderDLQError: "down",
				HeaderDLQAttempts: "5", HeaderDLQTopic: "in", HeaderDLQPartition: "3",
				HeaderDLQOffset: "17", HeaderDLQConsumer: "ns/c",
			},
		},
		{
			name: "replaces an earlier dead letter's headers",
			original: []*sarama.RecordHeader{
				{Key: []byte(HeaderDLQReason), Value: []byte("ProcessorError")},
				{Key: []byte(HeaderDLQTopic), Value: []byte("older")},
			},
			dl: deadLetter{reason: ReasonNotCloudEvent},
			want: map[string]string{
				HeaderDLQReason: "NotCloudEvent", HeaderDLQError: "", HeaderDLQAttempts: "0",
				HeaderDLQTopic: "in", HeaderDLQPartition: "3", HeaderDLQOffset: "17",
				HeaderDLQConsumer: "ns/c",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := &sarama.ConsumerMessage{Topic: "in", Partition: 3, Offset: 17, Headers: tt.original}
			got := map[string]string{}
			for _, h := range deadLetterHeaders(msg, tt.dl, "ns/c") {
				if _, dup := got[string(h.Key)]; dup {
					t.Fatalf("header %s appears twice", h.Key)
				}
				got[string(h.Key)] = string(h.Value)
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %d headers %v, want %d", len(got), got, len(tt.want))
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("header %s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestDeadLetterMessageKeepsKeyAndPayload(t *testing.T) {
	msg := &sarama.ConsumerMessage{Topic: "in", Key: []byte("k"), Value: []byte("not json")}
	pm := deadLetterMessage(msg, deadLetter{reason: ReasonNotCloudEvent}, "dlq", "ns/c")
	key, _ := pm.Key.Encode()
	value, _ := pm.Value.Encode()
	if pm.Topic != "dlq" || string(key) != "k" || string(value) != "not json" {
		t.Errorf("dead letter = topic %q key %q value %q", pm.Topic, key, value)
	}
}
