package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/format"
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
	event, isV1, err := decodeBinaryV1(msg)
	if !isV1 {
		event, err = decodeWithBinding(msg)
	}
	if errors.Is(err, errNotCloudEvent) {
		return cloudevents.Event{}, &decodeError{reason: ReasonNotCloudEvent, err: err}
	}
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
	return event, nil
}

var errNotCloudEvent = errors.New("message has neither a CloudEvents content type nor a ce_specversion header")

// decodeWithBinding reads a record through the kafka_sarama binding: the
// structured content mode, and the binary mode of versions other than 1.0.
func decodeWithBinding(msg *sarama.ConsumerMessage) (cloudevents.Event, error) {
	m := bindingMessage(msg)
	if m.ReadEncoding() == binding.EncodingUnknown {
		return cloudevents.Event{}, errNotCloudEvent
	}
	e, err := binding.ToEvent(context.Background(), m)
	if err != nil {
		return cloudevents.Event{}, err
	}
	return *e, nil
}

// maxFastHeaders is the most headers decodeBinaryV1 takes. It finds the
// last of repeated keys by looking ahead, in time quadratic in the headers;
// a record with more goes through the binding, whose map does it in linear
// time, so a record of many thousands of headers cannot stall a partition.
const maxFastHeaders = 16

// header is a record header with the key the binding files it under.
type header struct {
	key   string
	raw   []byte
	value string
}

// decodeBinaryV1 reads a record in binary content mode of CloudEvents 1.0,
// what nearly every record is, the way the kafka_sarama binding reads it
// (TestDecodeBinaryV1MatchesBinding and FuzzDecodeBinaryV1 hold it to that):
// header keys compared lower-cased, the last of repeated keys taken,
// content-type or ce_datacontenttype for datacontenttype, every other ce_
// header an extension, each set through the event context's own setters, and
// the value as the data without a copy. It differs in cost only: no map of
// headers, one string for all header values instead of one each, and no
// boxing of every value, which made the binding's path a quarter of the
// worker's CPU time. isV1 is false, and nothing is decoded, when the record
// is in another mode or version, or has more than maxFastHeaders headers.
func decodeBinaryV1(msg *sarama.ConsumerMessage) (e cloudevents.Event, isV1 bool, err error) {
	if len(msg.Headers) > maxFastHeaders {
		return cloudevents.Event{}, false, nil
	}
	var room [maxFastHeaders]header
	hs := room[:0]
	size := 0
	for _, h := range msg.Headers {
		hs = append(hs, header{key: headerKey(h.Key), raw: h.Value})
		size += len(h.Value)
	}
	// One string holds every value; the headers' values are slices of it.
	var values strings.Builder
	values.Grow(size)
	for _, h := range hs {
		values.Write(h.raw)
	}
	all := values.String()
	var contentType, specVersion string
	for i, at := 0, 0; i < len(hs); i++ {
		hs[i].value, at = all[at:at+len(hs[i].raw)], at+len(hs[i].raw)
		switch hs[i].key {
		case contentTypeHeader:
			contentType = hs[i].value
		case string(specVersionKey):
			specVersion = hs[i].value
		}
	}
	if specVersion != event.CloudEventsVersionV1 || format.Lookup(contentType) != nil {
		return cloudevents.Event{}, false, nil
	}

	e = event.New(event.CloudEventsVersionV1)
	ec := e.Context.(*event.EventContextV1)
	for i, h := range hs {
		if repeated(hs[i+1:], h.key) {
			continue
		}
		if err := setV1(ec, h.key, h.value); err != nil {
			return cloudevents.Event{}, true, err
		}
	}
	if len(msg.Value) > 0 {
		e.DataEncoded = msg.Value
	}
	return e, true, nil
}

// headerKey is a header's key lower-cased, without an allocation for the
// keys writers usually send.
func headerKey(k []byte) string {
	if name, ok := headerNames[string(k)]; ok {
		return name
	}
	return strings.ToLower(string(k))
}

// repeated reports whether key comes again in later headers, which then
// override it.
func repeated(later []header, key string) bool {
	for _, h := range later {
		if h.key == key {
			return true
		}
	}
	return false
}

// setV1 sets the attribute or extension a header carries, as the binding's
// spec attributes and event builder set it.
func setV1(ec *event.EventContextV1, key, v string) error {
	switch key {
	case string(specVersionKey):
		return nil
	case string(idKey):
		return ec.SetID(v)
	case string(sourceKey):
		return ec.SetSource(v)
	case string(typeKey):
		return ec.SetType(v)
	case string(subjectKey):
		return ec.SetSubject(v)
	case string(dataSchemaKey):
		return ec.SetDataSchema(v)
	case contentTypeHeader, "ce_datacontenttype":
		return ec.SetDataContentType(v)
	case string(timeKey):
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return fmt.Errorf("invalid value for time: %q: %w", v, err)
		}
		return ec.SetTime(t)
	}
	if name, ok := strings.CutPrefix(key, "ce_"); ok {
		return ec.SetExtension(name, v)
	}
	return nil
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
// extension into a new map and boxing every attribute on the way, and with
// every header value and extension key in one buffer instead of one
// allocation each. Events of other versions go through binding.Write.
func (w *outputWriter) writeV1(ec *event.EventContextV1, data []byte) error {
	source := ec.Source.String()
	size := len(event.CloudEventsVersionV1) + len(ec.ID) + len(source) + len(ec.Type) + 64
	hw := headerWriter{headers: make([]sarama.RecordHeader, 0, 8+len(ec.Extensions)),
		buf: make([]byte, 0, size)}
	hw.add(specVersionKey, event.CloudEventsVersionV1)
	hw.add(idKey, ec.ID)
	hw.add(sourceKey, source)
	hw.add(typeKey, ec.Type)
	if ec.DataContentType != nil {
		hw.add(contentTypeKey, *ec.DataContentType)
	}
	if ec.DataSchema != nil {
		hw.add(dataSchemaKey, ec.DataSchema.String())
	}
	if ec.Subject != nil {
		hw.add(subjectKey, *ec.Subject)
	}
	if ec.Time != nil {
		hw.add(timeKey, ec.Time.String())
	}
	for name, value := range ec.Extensions {
		if value == nil {
			continue
		}
		s, err := types.Format(value)
		if err != nil {
			return err
		}
		hw.add(hw.bytes("ce_", name), s)
	}
	w.Headers = hw.headers
	if len(data) > 0 {
		w.Value = sarama.ByteEncoder(data)
	}
	return nil
}

// headerWriter appends headers whose values, and keys of its own, are
// slices of one growing buffer.
type headerWriter struct {
	headers []sarama.RecordHeader
	buf     []byte
}

func (hw *headerWriter) add(key []byte, value string) {
	hw.headers = append(hw.headers, sarama.RecordHeader{Key: key, Value: hw.bytes("", value)})
}

// bytes appends a and b to the buffer and returns them as one slice of it.
// The slice's capacity ends with it, so nothing appended to it could reach
// the next one; a buffer that grows leaves the earlier slices in the old one.
func (hw *headerWriter) bytes(a, b string) []byte {
	start := len(hw.buf)
	hw.buf = append(append(hw.buf, a...), b...)
	return hw.buf[start:len(hw.buf):len(hw.buf)]
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
	w.Headers = append(w.Headers, sarama.RecordHeader{Key: key, Value: []byte(s)})
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
