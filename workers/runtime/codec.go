package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/types"

	"github.com/eventpipe/eventpipe/workers/processor"
)

// partitionKeyExtension is the CloudEvents partitioning extension.
const partitionKeyExtension = "partitionkey"

// bindingExtensions are the extensions kafka_sarama adds to every decoded
// message from its Kafka coordinates; they describe the input record, not the
// event, and must not travel on into the outputs.
var bindingExtensions = []string{"kafkaoffset", "kafkapartition", "kafkatopic"}

// decodeError is a message that cannot become an event, with its reason.
type decodeError struct {
	reason Reason
	err    error
}

func (e *decodeError) Error() string { return e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// decode reads a CloudEvent in binary or structured content mode.
func decode(msg *sarama.ConsumerMessage) (cloudevents.Event, error) {
	m := kafka_sarama.NewMessageFromConsumerMessage(msg)
	if m.ReadEncoding() == binding.EncodingUnknown {
		return cloudevents.Event{}, &decodeError{reason: ReasonNotCloudEvent,
			err: errors.New("message has neither a CloudEvents content type nor a ce_specversion header")}
	}
	event, err := binding.ToEvent(context.Background(), m)
	if err != nil {
		return cloudevents.Event{}, &decodeError{reason: ReasonInvalidCloudEvent,
			err: fmt.Errorf("decode CloudEvent: %w", err)}
	}
	for _, name := range bindingExtensions {
		event.SetExtension(name, nil)
	}
	if err := event.Validate(); err != nil {
		return cloudevents.Event{}, &decodeError{reason: ReasonInvalidCloudEvent,
			err: fmt.Errorf("validate CloudEvent: %w", err)}
	}
	if isJSON(event.DataContentType()) && len(event.Data()) > 0 && !json.Valid(event.Data()) {
		return cloudevents.Event{}, &decodeError{reason: ReasonInvalidData,
			err: fmt.Errorf("data of event %s is declared %s but is not valid JSON",
				event.ID(), event.DataContentType())}
	}
	return *event, nil
}

// isJSON reports whether a content type is JSON: application/json, text/json
// or any +json suffix, with or without parameters.
func isJSON(contentType string) bool {
	mediaType, _, _ := strings.Cut(contentType, ";")
	mediaType = strings.ToLower(strings.TrimSpace(mediaType))
	return mediaType == "application/json" || mediaType == "text/json" ||
		strings.HasSuffix(mediaType, "+json")
}

// outputKey is the Kafka key of an output: the processor's choice, else the
// event's partitionkey extension, else its subject, else its id.
func outputKey(out processor.Output) string {
	if out.Key != "" {
		return out.Key
	}
	if v, ok := out.Event.Extensions()[partitionKeyExtension]; ok {
		if s, err := types.Format(v); err == nil && s != "" {
			return s
		}
	}
	if s := out.Event.Subject(); s != "" {
		return s
	}
	return out.Event.ID()
}

// encodeCtx asks kafka_sarama for binary content mode and leaves the key to
// outputKey. It is built once: building it per event costs allocations.
var encodeCtx = kafka_sarama.WithSkipKeyMapping(binding.WithForceBinary(context.Background()))

// encode writes an output event in binary content mode for topic.
func encode(out processor.Output, topic string) (*sarama.ProducerMessage, error) {
	pm := &sarama.ProducerMessage{Topic: topic}
	if err := kafka_sarama.WriteProducerMessage(encodeCtx, binding.ToMessage(&out.Event), pm); err != nil {
		return nil, fmt.Errorf("encode event %s for topic %s: %w", out.Event.ID(), topic, err)
	}
	pm.Key = sarama.StringEncoder(outputKey(out))
	return pm, nil
}
