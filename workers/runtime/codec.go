package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/spec"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"

	"github.com/eventpipe/eventpipe/workers/processor"
)

// partitionKeyExtension is the CloudEvents partitioning extension.
const partitionKeyExtension = "partitionkey"

// decodeError is a message that cannot become an event, with its reason.
type decodeError struct {
	reason Reason
	err    error
}

func (e *decodeError) Error() string { return e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// decode reads a CloudEvent in binary or structured content mode.
func decode(msg *sarama.ConsumerMessage) (cloudevents.Event, error) {
	m := bindingMessage(msg)
	if m.ReadEncoding() == binding.EncodingUnknown {
		return cloudevents.Event{}, &decodeError{reason: ReasonNotCloudEvent,
			err: errors.New("message has neither a CloudEvents content type nor a ce_specversion header")}
	}
	event, err := binding.ToEvent(context.Background(), m)
	if err != nil {
		return cloudevents.Event{}, &decodeError{reason: ReasonInvalidCloudEvent,
			err: fmt.Errorf("decode CloudEvent: %w", err)}
	}
	if err := event.Validate(); err != nil {
		return cloudevents.Event{}, &decodeError{reason: ReasonInvalidCloudEvent,
			err: fmt.Errorf("validate CloudEvent: %w", err)}
	}
	if isJSON(event.DataContentType()) && len(event.Data()) > 0 && !validJSON(event.Data()) {
		return cloudevents.Event{}, &decodeError{reason: ReasonInvalidData,
			err: fmt.Errorf("data of event %s is declared %s but is not valid JSON",
				event.ID(), event.DataContentType())}
	}
	return *event, nil
}

// headerNames maps the header keys writers usually send to the lower-case
// key the binding's message files them under.
var headerNames = func() map[string]string {
	names := map[string]string{contentTypeHeader: contentTypeHeader, "Content-Type": contentTypeHeader,
		"ce_" + partitionKeyExtension: "ce_" + partitionKeyExtension}
	for _, key := range attributeKeys {
		names[string(key)] = string(key)
	}
	return names
}()

// bindingMessage is the kafka_sarama binding's message of a record, as
// kafka_sarama.NewMessageFromConsumerMessage makes it but without the
// kafkaoffset, kafkapartition and kafkatopic extensions that one adds: they
// describe the input record, not the event, must not travel on into the
// outputs, and adding them only to remove them again made decoding a third
// slower (BenchmarkCodec).
func bindingMessage(msg *sarama.ConsumerMessage) *kafka_sarama.Message {
	var contentType string
	headers := make(map[string][]byte, len(msg.Headers))
	for _, h := range msg.Headers {
		// The usual keys are looked up without converting them (Go does not
		// allocate for m[string(b)]); only others are copied and lowered.
		k, ok := headerNames[string(h.Key)]
		if !ok {
			k = strings.ToLower(string(h.Key))
		}
		if k == contentTypeHeader {
			contentType = string(h.Value)
		}
		headers[k] = h.Value
	}
	return kafka_sarama.NewMessage(msg.Value, contentType, headers)
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
	if v, ok := extension(out.Event, partitionKeyExtension); ok {
		if s, err := types.Format(v); err == nil && s != "" {
			return s
		}
	}
	if s := out.Event.Subject(); s != "" {
		return s
	}
	return out.Event.ID()
}

// extension reads one extension of e. Reading a v1.0 context's map directly
// saves the copy of every extension that Extensions() makes, per output.
func extension(e cloudevents.Event, name string) (any, bool) {
	if ec, ok := e.Context.(*event.EventContextV1); ok {
		v, ok := ec.Extensions[name]
		return v, ok
	}
	v, ok := e.Extensions()[name]
	return v, ok
}

// encode writes an output event for topic in binary content mode: the
// attributes and extensions as ce_ headers, the data as the value.
func encode(out processor.Output, topic string) (*sarama.ProducerMessage, error) {
	pm := &sarama.ProducerMessage{Topic: topic}
	var err error
	if ec, ok := out.Event.Context.(*event.EventContextV1); ok {
		err = (*outputWriter)(pm).writeV1(ec, out.Event.Data())
	} else {
		_, err = binding.Write(context.Background(), binding.ToMessage(&out.Event), nil, (*outputWriter)(pm))
	}
	if err != nil {
		return nil, fmt.Errorf("encode event %s for topic %s: %w", out.Event.ID(), topic, err)
	}
	pm.Key = sarama.StringEncoder(outputKey(out))
	return pm, nil
}

// outputWriter is the binary-mode writer of the CloudEvents Kafka binding,
// written for the worker's output path instead of kafka_sarama's: that one
// copies the data through a growing buffer and allocates every header key,
// which was a tenth of the worker's allocations. This one shares one key per
// attribute and hands sarama the event's data itself; nothing writes to an
// output event once the processor has returned it.
type outputWriter sarama.ProducerMessage

// The header keys of the binding: ce_<attribute>, and content-type for
// datacontenttype.
const contentTypeHeader = "content-type"

var (
	contentTypeKey = []byte(contentTypeHeader)
	specVersionKey = []byte("ce_specversion")
	idKey          = []byte("ce_id")
	sourceKey      = []byte("ce_source")
	typeKey        = []byte("ce_type")
	subjectKey     = []byte("ce_subject")
	timeKey        = []byte("ce_time")
	dataSchemaKey  = []byte("ce_dataschema")
	attributeKeys  = func() map[string][]byte {
		keys := map[string][]byte{}
		for _, v := range []spec.Version{spec.V1, spec.V03} {
			for _, a := range v.Attributes() {
				keys[a.Name()] = []byte("ce_" + a.Name())
			}
		}
		return keys
	}()
)

// writeV1 writes the headers and value of a v1.0 event straight from its
// context: what binding.Write does with this writer, without copying every
// extension into a new map and boxing every attribute on the way. Events of
// other versions go through binding.Write.
func (w *outputWriter) writeV1(ec *event.EventContextV1, data []byte) error {
	w.Headers = make([]sarama.RecordHeader, 0, 8+len(ec.Extensions))
	w.add(specVersionKey, event.CloudEventsVersionV1)
	w.add(idKey, ec.ID)
	w.add(sourceKey, ec.Source.String())
	w.add(typeKey, ec.Type)
	if ec.DataContentType != nil {
		w.add(contentTypeKey, *ec.DataContentType)
	}
	if ec.DataSchema != nil {
		w.add(dataSchemaKey, ec.DataSchema.String())
	}
	if ec.Subject != nil {
		w.add(subjectKey, *ec.Subject)
	}
	if ec.Time != nil {
		w.add(timeKey, ec.Time.String())
	}
	for name, value := range ec.Extensions {
		if err := w.SetExtension(name, value); err != nil {
			return err
		}
	}
	if len(data) > 0 {
		w.Value = sarama.ByteEncoder(data)
	}
	return nil
}

func (w *outputWriter) add(key []byte, value string) {
	w.Headers = append(w.Headers, sarama.RecordHeader{Key: key, Value: []byte(value)})
}

// outputHeaders is room for the required attributes, time, subject,
// datacontenttype and a few extensions, so the headers are allocated once.
const outputHeaders = 10

func (w *outputWriter) Start(context.Context) error {
	w.Headers = make([]sarama.RecordHeader, 0, outputHeaders)
	return nil
}

func (w *outputWriter) End(context.Context) error { return nil }

func (w *outputWriter) SetAttribute(attribute spec.Attribute, value any) error {
	if value == nil {
		return nil
	}
	key := contentTypeKey
	if attribute.Kind() != spec.DataContentType {
		if key = attributeKeys[attribute.Name()]; key == nil {
			key = []byte("ce_" + attribute.Name())
		}
	}
	return w.header(key, value)
}

func (w *outputWriter) SetExtension(name string, value any) error {
	if value == nil {
		return nil
	}
	return w.header([]byte("ce_"+name), value)
}

// header appends one header; Kafka header values are the attribute's
// canonical string form.
func (w *outputWriter) header(key []byte, value any) error {
	s, err := types.Format(value)
	if err != nil {
		return err
	}
	w.add(key, s)
	return nil
}

// SetData takes the data without a copy when binding hands over the event's
// own bytes, as it does for an event.
func (w *outputWriter) SetData(data io.Reader) error {
	if b, ok := data.(*bytes.Buffer); ok {
		w.Value = sarama.ByteEncoder(b.Bytes())
		return nil
	}
	b, err := io.ReadAll(data)
	if err != nil {
		return err
	}
	w.Value = sarama.ByteEncoder(b)
	return nil
}
