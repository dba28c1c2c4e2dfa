package upcast

import (
	"errors"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

func event(eventType, version string) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID("1")
	e.SetSource("test")
	e.SetType(eventType)
	if version != "" {
		e.SetExtension(Extension, version)
	}
	return e
}

func TestUpcast(t *testing.T) {
	markStep := func(mark string) Func {
		return func(e *cloudevents.Event) error {
			e.SetSubject(e.Subject() + mark)
			return nil
		}
	}
	failing := func(*cloudevents.Event) error { return errors.New("boom") }
	registry := New().
		SetCurrent("order", "3").
		Add("order", "1", "2", markStep("a")).
		Add("order", "2", "3", markStep("b")).
		SetCurrent("loop", "9").
		Add("loop", "1", "2", markStep("x")).
		Add("loop", "2", "1", markStep("y")).
		SetCurrent("broken", "2").
		Add("broken", "1", "2", failing)

	tests := []struct {
		name        string
		event       cloudevents.Event
		wantSubject string
		wantVersion string
		wantUnknown bool
		wantErr     bool
	}{
		{name: "unknown type passes", event: event("other", "7"), wantVersion: "7"},
		{name: "current version unchanged", event: event("order", "3"), wantVersion: "3"},
		{name: "one step", event: event("order", "2"), wantSubject: "b", wantVersion: "3"},
		{name: "two steps", event: event("order", "1"), wantSubject: "ab", wantVersion: "3"},
		{name: "missing version is the default", event: event("order", ""), wantSubject: "ab",
			wantVersion: "3"},
		{name: "unknown version", event: event("order", "4"), wantUnknown: true, wantErr: true},
		{name: "cycle never reaching current", event: event("loop", "1"), wantUnknown: true,
			wantErr: true},
		{name: "failing step", event: event("broken", "1"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.event.Clone()
			err := registry.Upcast(&e)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Upcast() error = %v, want error %v", err, tt.wantErr)
			}
			if got := errors.Is(err, ErrUnknownVersion); got != tt.wantUnknown {
				t.Fatalf("errors.Is(ErrUnknownVersion) = %v, want %v (%v)", got, tt.wantUnknown, err)
			}
			if err != nil {
				return
			}
			if e.Subject() != tt.wantSubject {
				t.Errorf("subject = %q, want %q", e.Subject(), tt.wantSubject)
			}
			if v := Version(e); v != tt.wantVersion {
				t.Errorf("version = %q, want %q", v, tt.wantVersion)
			}
		})
	}
}

func TestNilRegistryPassesEverything(t *testing.T) {
	var r *Registry
	e := event("order", "42")
	if err := r.Upcast(&e); err != nil {
		t.Fatalf("Upcast() on nil registry = %v, want nil", err)
	}
}
