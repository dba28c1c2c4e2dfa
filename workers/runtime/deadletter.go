package runtime

import (
	"strconv"

	"github.com/IBM/sarama"
)

// The headers a dead-lettered event carries besides its own.
const (
	// HeaderDLQReason is one of the Reason values.
	HeaderDLQReason = "eventpipe-dlq-reason"
	// HeaderDLQError is the text of the error that sent the event there.
	HeaderDLQError = "eventpipe-dlq-error"
	// HeaderDLQAttempts is how often the processor was called (0: never).
	HeaderDLQAttempts = "eventpipe-dlq-attempts"
	// HeaderDLQTopic is the topic the event was read from.
	HeaderDLQTopic = "eventpipe-dlq-topic"
	// HeaderDLQPartition is the partition it was read from.
	HeaderDLQPartition = "eventpipe-dlq-partition"
	// HeaderDLQOffset is its offset there.
	HeaderDLQOffset = "eventpipe-dlq-offset"
	// HeaderDLQConsumer names the Consumer (namespace/name) that gave up on it.
	HeaderDLQConsumer = "eventpipe-dlq-consumer"
)

// Reason says why an event was dead-lettered; it is the HeaderDLQReason value.
type Reason string

// The reasons an event is dead-lettered.
const (
	// ReasonNotCloudEvent: the message is in neither CloudEvents content mode.
	ReasonNotCloudEvent Reason = "NotCloudEvent"
	// ReasonInvalidCloudEvent: the message claims to be a CloudEvent but its
	// envelope or attributes are invalid.
	ReasonInvalidCloudEvent Reason = "InvalidCloudEvent"
	// ReasonInvalidData: the data is declared JSON but does not parse.
	ReasonInvalidData Reason = "InvalidData"
	// ReasonUnknownSchemaVersion: no upcaster leads from the event's version
	// to the current one.
	ReasonUnknownSchemaVersion Reason = "UnknownSchemaVersion"
	// ReasonProcessorError: the processor failed with an error not marked
	// retryable.
	ReasonProcessorError Reason = "ProcessorError"
	// ReasonRetriesExhausted: the processor kept failing with retryable errors
	// for delivery.maxAttempts attempts.
	ReasonRetriesExhausted Reason = "RetriesExhausted"
	// ReasonInvalidOutput: the processor emitted to an output the Consumer
	// does not have, or an event that cannot be encoded.
	ReasonInvalidOutput Reason = "InvalidOutput"
)

// deadLetter is why and where one event failed.
type deadLetter struct {
	reason   Reason
	err      error
	attempts int
}

// deadLetterHeaders returns the original headers followed by the dead-letter
// ones; an original header of the same name as one of ours is replaced, so a
// twice dead-lettered event says where it failed last.
func deadLetterHeaders(msg *sarama.ConsumerMessage, dl deadLetter, consumer string) []sarama.RecordHeader {
	errText := ""
	if dl.err != nil {
		errText = dl.err.Error()
	}
	ours := []sarama.RecordHeader{
		{Key: []byte(HeaderDLQReason), Value: []byte(dl.reason)},
		{Key: []byte(HeaderDLQError), Value: []byte(errText)},
		{Key: []byte(HeaderDLQAttempts), Value: []byte(strconv.Itoa(dl.attempts))},
		{Key: []byte(HeaderDLQTopic), Value: []byte(msg.Topic)},
		{Key: []byte(HeaderDLQPartition), Value: []byte(strconv.FormatInt(int64(msg.Partition), 10))},
		{Key: []byte(HeaderDLQOffset), Value: []byte(strconv.FormatInt(msg.Offset, 10))},
		{Key: []byte(HeaderDLQConsumer), Value: []byte(consumer)},
	}
	replaced := map[string]bool{}
	for _, h := range ours {
		replaced[string(h.Key)] = true
	}
	headers := make([]sarama.RecordHeader, 0, len(msg.Headers)+len(ours))
	for _, h := range msg.Headers {
		if h == nil || replaced[string(h.Key)] {
			continue
		}
		headers = append(headers, *h)
	}
	return append(headers, ours...)
}

// deadLetterMessage is the original event, key and payload unchanged, bound
// for the dead-letter topic.
func deadLetterMessage(
	msg *sarama.ConsumerMessage, dl deadLetter, topic, consumer string,
) *sarama.ProducerMessage {
	pm := &sarama.ProducerMessage{
		Topic:   topic,
		Headers: deadLetterHeaders(msg, dl, consumer),
	}
	if msg.Key != nil {
		pm.Key = sarama.ByteEncoder(msg.Key)
	}
	if msg.Value != nil {
		pm.Value = sarama.ByteEncoder(msg.Value)
	}
	return pm
}
