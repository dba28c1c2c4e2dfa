package passthrough

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/eventpipe/eventpipe/workers/processor"
	"github.com/eventpipe/eventpipe/workers/upcast"
)

const settings = `{
  "routes": {"com.example.order.*": "orders", "com.example.order.refund": "refunds",
             "com.example.*": "example"},
  "defaultOutput": "other",
  "drop": ["com.example.debug.*"],
  "failTypes": {"com.example.flaky": "retryable", "com.example.poison": "permanent"}
}`

func TestProcess(t *testing.T) {
	p, err := New(json.RawMessage(settings))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		eventType     string
		wantOutput    string
		wantErr       bool
		wantRetryable bool
	}{
		{eventType: "com.example.order.created", wantOutput: "orders"},
		{eventType: "com.example.order.refund", wantOutput: "refunds"},
		{eventType: "com.example.payment", wantOutput: "example"},
		{eventType: "org.other", wantOutput: "other"},
		{eventType: "com.example.debug.trace"},
		{eventType: "com.example.flaky", wantErr: true, wantRetryable: true},
		{eventType: "com.example.poison", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.eventType, func(t *testing.T) {
			e := cloudevents.NewEvent()
			e.SetID("1")
			e.SetSource("s")
			e.SetType(tt.eventType)
			outs, err := p.Process(context.Background(), e)
			if (err != nil) != tt.wantErr || processor.IsRetryable(err) != tt.wantRetryable {
				t.Fatalf("Process() error = %v, want error %v retryable %v", err, tt.wantErr,
					tt.wantRetryable)
			}
			got := ""
			if len(outs) == 1 {
				got = outs[0].Name
			}
			if len(outs) > 1 || got != tt.wantOutput {
				t.Errorf("outputs = %v, want %q", outs, tt.wantOutput)
			}
		})
	}
}

func TestNoRouteIsAnError(t *testing.T) {
	p, err := New(json.RawMessage(`{"routes": {"a": "out"}}`))
	if err != nil {
		t.Fatal(err)
	}
	e := cloudevents.NewEvent()
	e.SetType("b")
	if _, err := p.Process(context.Background(), e); err == nil {
		t.Error("an event matching nothing was dropped silently")
	}
}

func TestValidateNamesTheBadSetting(t *testing.T) {
	tests := []struct {
		settings string
		want     string
	}{
		{settings: `{"routes": {"a.*.b": "out"}}`, want: "routes"},
		{settings: `{"routes": {"a": ""}}`, want: `routes["a"]`},
		{settings: `{"drop": ["x", ""]}`, want: "drop[1]"},
		{settings: `{"failTypes": {"a": "sometimes"}}`, want: `failTypes["a"]`},
		{settings: `{"route": {}}`, want: "route"},
		{settings: `{"routes": []}`, want: "routes"},
	}
	for _, tt := range tests {
		t.Run(tt.settings, func(t *testing.T) {
			err := processor.ValidateSettings(Name, json.RawMessage(tt.settings))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ValidateSettings() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
	for _, ok := range []string{``, `{}`, settings, `{"routes": {"*": "all"}}`} {
		if err := processor.ValidateSettings(Name, json.RawMessage(ok)); err != nil {
			t.Errorf("ValidateSettings(%s) = %v, want nil", ok, err)
		}
	}
}

func TestSampleUpcast(t *testing.T) {
	e := cloudevents.NewEvent()
	e.SetID("1")
	e.SetSource("s")
	e.SetType(SampleType)
	e.SetExtension(upcast.Extension, "1")
	_ = e.SetData(cloudevents.ApplicationJSON, map[string]int{"value": 3})
	if err := Upcasters().Upcast(&e); err != nil {
		t.Fatal(err)
	}
	if got := string(e.Data()); got != `{"unit":"none","value":3}` || upcast.Version(e) != "2" {
		t.Errorf("upcast data = %s version %s", got, upcast.Version(e))
	}
}
