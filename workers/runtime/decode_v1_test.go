package runtime

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/binding"
)

// required is the headers of a minimal binary-mode CloudEvents 1.0 record.
var required = []string{"ce_specversion", "1.0", "ce_id", "1", "ce_source", "s", "ce_type", "t"}

func withRequired(kv ...string) []*sarama.RecordHeader {
	return headers(append(append([]string(nil), required...), kv...)...)
}

// TestDecodeBinaryV1MatchesBinding holds the worker's decoder of binary-mode
// CloudEvents 1.0 records to the kafka_sarama binding: the same event, or an
// error from both.
func TestDecodeBinaryV1MatchesBinding(t *testing.T) {
	data := []byte(`{"amount":12.5}`)
	tests := []struct {
		name    string
		headers []*sarama.RecordHeader
		value   []byte
		wantErr bool
	}{
		{name: "required attributes only", headers: withRequired()},
		{name: "every attribute", value: data, headers: withRequired(
			"content-type", "application/json; charset=utf-8", "ce_subject", "orders/42",
			"ce_time", "2026-12-04T01:02:03.456789Z", "ce_dataschema", "https://schemas.example.com/v2")},
		{name: "time with an offset", headers: withRequired("ce_time", "2026-12-04T02:02:03+01:00")},
		{name: "keys in any case", value: data, headers: headers("CE_SpecVersion", "1.0", "Ce_Id", "1",
			"CE_SOURCE", "s", "ce_Type", "t", "Content-Type", "application/json", "CE_PartitionKey", "k")},
		{name: "repeated keys: the last wins", headers: withRequired("ce_id", "second",
			"ce_time", "not a time", "ce_time", "2026-01-01T00:00:00Z", "ce_region", "a", "ce_region", "b")},
		{name: "extensions", headers: withRequired("ce_partitionkey", "pk",
			"ce_traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "ce_benchsent", "17")},
		{name: "ce_datacontenttype header", value: []byte("<a/>"),
			headers: withRequired("ce_datacontenttype", "application/xml")},
		{name: "spaces trimmed", headers: headers("ce_specversion", "1.0", "ce_id", " 1 ",
			"ce_source", "s", "ce_type", " t ", "ce_subject", "  ", "content-type", " text/plain ")},
		{name: "headers of other kinds ignored", headers: withRequired("traceparent", "x", "retry", "3")},
		{name: "empty value", value: []byte{}, headers: withRequired()},
		{name: "URI reference source", headers: headers("ce_specversion", "1.0", "ce_id", "1",
			"ce_source", "/sensors/7?site=north#a", "ce_type", "t")},

		{name: "empty id", headers: headers("ce_specversion", "1.0", "ce_id", " ", "ce_source", "s",
			"ce_type", "t"), wantErr: true},
		{name: "time not RFC 3339", headers: withRequired("ce_time", "yesterday"), wantErr: true},
		{name: "source not a URI reference", headers: withRequired("ce_source", "%zz"), wantErr: true},
		{name: "extension name with a dash", headers: withRequired("ce_bad-name", "v"), wantErr: true},
		{name: "extension without a name", headers: withRequired("ce_", "v"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := &sarama.ConsumerMessage{Headers: tt.headers, Value: tt.value}
			compareWithBinding(t, msg, tt.wantErr)
		})
	}
}

// compareWithBinding decodes msg both ways and reports where they differ;
// wantErr is whether both must fail.
func compareWithBinding(t *testing.T, msg *sarama.ConsumerMessage, wantErr bool) {
	t.Helper()
	got, isV1, err := decodeBinaryV1(msg)
	if !isV1 {
		t.Fatalf("decodeBinaryV1() did not take a binary-mode 1.0 record")
	}
	want, wantErrGot := decodeWithBinding(msg)
	if (err != nil) != (wantErrGot != nil) {
		t.Fatalf("decodeBinaryV1() error = %v, the binding's = %v", err, wantErrGot)
	}
	if (err != nil) != wantErr {
		t.Fatalf("decodeBinaryV1() error = %v, want an error: %v", err, wantErr)
	}
	if err != nil {
		return
	}
	if !reflect.DeepEqual(got.Context, want.Context) {
		t.Errorf("context = %#v\nthe binding's = %#v", got.Context, want.Context)
	}
	if !bytes.Equal(got.Data(), want.Data()) {
		t.Errorf("data = %q, the binding's = %q", got.Data(), want.Data())
	}
}

// TestDecodeBinaryV1LeavesOthersToBinding checks the records the fast path
// must not take: structured mode, other versions, and no CloudEvent at all.
func TestDecodeBinaryV1LeavesOthersToBinding(t *testing.T) {
	tests := map[string][]*sarama.RecordHeader{
		"structured":                 headers("content-type", "application/cloudevents+json"),
		"structured, with parameter": headers("Content-Type", "Application/CloudEvents+JSON; charset=utf-8"),
		"structured batch":           headers("content-type", "application/cloudevents-batch+json"),
		"structured wins over a spec version": withRequired("content-type",
			"application/cloudevents+json"),
		"version 0.3":                      headers("ce_specversion", "0.3", "ce_id", "1", "ce_source", "s", "ce_type", "t"),
		"spec version repeated, 0.3 last":  withRequired("ce_specversion", "0.3"),
		"more headers than maxFastHeaders": withRequired(manyExtensions(maxFastHeaders)...),
		"no spec version":                  headers("ce_id", "1", "ce_source", "s", "ce_type", "t"),
		"no headers":                       nil,
	}
	for name, hs := range tests {
		t.Run(name, func(t *testing.T) {
			if _, isV1, _ := decodeBinaryV1(&sarama.ConsumerMessage{Headers: hs}); isV1 {
				t.Errorf("decodeBinaryV1() took a record that is not binary-mode CloudEvents 1.0")
			}
		})
	}
}

// manyExtensions is n extension headers as key and value pairs.
func manyExtensions(n int) []string {
	var kv []string
	for i := range n {
		kv = append(kv, "ce_ext"+strconv.Itoa(i), "v")
	}
	return kv
}

// TestDecodeManyHeaders checks that a record with more headers than the fast
// path takes is still decoded, by the binding.
func TestDecodeManyHeaders(t *testing.T) {
	msg := &sarama.ConsumerMessage{Headers: withRequired(manyExtensions(1000)...)}
	e, err := decode(msg)
	if err != nil {
		t.Fatalf("decode() = %v", err)
	}
	if got := len(e.Extensions()); got != 1000 {
		t.Errorf("decoded %d extensions, want 1000", got)
	}
}

// FuzzDecodeBinaryV1 compares the fast path with the binding on records with
// arbitrary headers: a record is a list of key=value lines.
func FuzzDecodeBinaryV1(f *testing.F) {
	f.Add("ce_specversion=1.0\nce_id=1\nce_source=s\nce_type=t\nce_time=2026-12-04T01:02:03Z", []byte(`{}`))
	f.Add("CE_SPECVERSION=1.0\nce_id=\nce_source=%41\nce_type=t\nce_x=1\nce_x=2", []byte(nil))
	f.Add("content-type=application/cloudevents+json\nce_specversion=1.0", []byte(`{}`))
	f.Add("ce_specversion=1.0\nce_id=a\nce_source=s\nce_type=t\nce_datacontenttype=text/plain", []byte("x"))
	f.Fuzz(func(t *testing.T, lines string, value []byte) {
		var hs []*sarama.RecordHeader
		for _, line := range strings.Split(lines, "\n") {
			k, v, _ := strings.Cut(line, "=")
			hs = append(hs, &sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
		}
		msg := &sarama.ConsumerMessage{Headers: hs, Value: value}
		m := bindingMessage(msg)
		bindingV1 := m.ReadEncoding() == binding.EncodingBinary && string(m.Headers["ce_specversion"]) == "1.0"
		got, isV1, err := decodeBinaryV1(msg)
		if len(hs) > maxFastHeaders {
			if isV1 {
				t.Fatalf("decodeBinaryV1() took a record of %d headers", len(hs))
			}
			return
		}
		if isV1 != bindingV1 {
			t.Fatalf("decodeBinaryV1() takes the record: %v, the binding reads it as binary 1.0: %v", isV1, bindingV1)
		}
		if !isV1 {
			return
		}
		want, wantErr := decodeWithBinding(msg)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decodeBinaryV1() error = %v, the binding's = %v", err, wantErr)
		}
		if err == nil && (!reflect.DeepEqual(got.Context, want.Context) || !bytes.Equal(got.Data(), want.Data())) {
			t.Fatalf("event = %v\nthe binding's = %v", got, want)
		}
	})
}
