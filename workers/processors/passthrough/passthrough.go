// Package passthrough is the processor that routes events unchanged to
// outputs by their CloudEvents type, and drops the types it is told to. It is
// useful on its own to split or filter a stream, and it is the processor the
// worker runtime's own tests and benchmarks run.
//
// Settings (all optional, but an event must match a route, the default
// output or drop; one that matches none is dead-lettered, never lost):
//
//	{
//	  "routes": {"com.example.order.*": "orders", "com.example.refund": "refunds"},
//	  "defaultOutput": "other",
//	  "drop": ["com.example.debug.*"],
//	  "failTypes": {"com.example.flaky.*": "retryable", "com.example.poison": "permanent"}
//	}
//
// A pattern is an exact type, a prefix followed by ".*" (any type below that
// prefix), or "*" (every type). When several match, an exact type wins over
// prefixes and a longer prefix over a shorter one; drop is checked before
// routes.
//
// failTypes is for testing pipelines: events of a matching type make Process
// fail, with an error marked retryable ("retryable") or not ("permanent"),
// so that retries and dead letters can be observed end to end. It is checked
// first.
//
// To exercise schema upcasting the processor knows one type, SampleType,
// whose current version is "2": version 1 data {"value": v} is upcast to
// {"value": v, "unit": "none"}; any other version is unknown.
package passthrough

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/eventpipe/eventpipe/workers/processor"
	"github.com/eventpipe/eventpipe/workers/upcast"
)

// Name is the processor's name for --processor and spec.processor.
const Name = "passthrough"

// SampleType is the event type whose versions the processor upcasts.
const SampleType = "io.eventpipe.passthrough.sample"

// The failure modes of failTypes.
const (
	// FailRetryable makes Process return an error marked retryable.
	FailRetryable = "retryable"
	// FailPermanent makes Process return an error not marked retryable.
	FailPermanent = "permanent"
)

// Settings are the processor's settings, as documented on the package.
type Settings struct {
	// Routes maps a type pattern to the output its events go to.
	Routes map[string]string `json:"routes,omitempty"`
	// DefaultOutput receives events no route matches; empty dead-letters them.
	DefaultOutput string `json:"defaultOutput,omitempty"`
	// Drop lists the type patterns whose events are emitted nowhere.
	Drop []string `json:"drop,omitempty"`
	// FailTypes maps a type pattern to FailRetryable or FailPermanent.
	FailTypes map[string]string `json:"failTypes,omitempty"`
}

func init() {
	processor.Register(processor.Definition{
		Name:      Name,
		Validate:  func(raw json.RawMessage) error { _, err := parse(raw); return err },
		New:       New,
		Upcasters: Upcasters(),
	})
}

// Upcasters returns the registry of SampleType's versions.
func Upcasters() *upcast.Registry {
	return upcast.New().SetCurrent(SampleType, "2").Add(SampleType, "1", "2", sampleV1ToV2)
}

func sampleV1ToV2(e *cloudevents.Event) error {
	var data map[string]any
	if err := json.Unmarshal(e.Data(), &data); err != nil {
		return fmt.Errorf("read version 1 data: %w", err)
	}
	if _, ok := data["unit"]; !ok {
		data["unit"] = "none"
	}
	return e.SetData(cloudevents.ApplicationJSON, data)
}

// Passthrough is the processor; build it with New.
type Passthrough struct {
	routes        []rule
	defaultOutput string
	drop          []rule
	fail          []rule
}

// rule is a compiled pattern with what it maps to.
type rule struct {
	pattern string
	exact   bool
	prefix  string // without the trailing "*", so "com.example." or ""
	target  string
}

func (r rule) matches(eventType string) bool {
	if r.exact {
		return eventType == r.pattern
	}
	return strings.HasPrefix(eventType, r.prefix)
}

// New builds the processor from its settings.
func New(raw json.RawMessage) (processor.Processor, error) {
	return parse(raw)
}

func parse(raw json.RawMessage) (*Passthrough, error) {
	var s Settings
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("parse passthrough settings: %w", err)
		}
	}
	var errs []error
	p := &Passthrough{defaultOutput: s.DefaultOutput}
	for pattern, output := range s.Routes {
		r, err := compile("routes", pattern, output)
		if err == nil && output == "" {
			err = fmt.Errorf("routes[%q]: output is empty", pattern)
		}
		errs = append(errs, err)
		p.routes = append(p.routes, r)
	}
	for i, pattern := range s.Drop {
		r, err := compile(fmt.Sprintf("drop[%d]", i), pattern, "")
		errs = append(errs, err)
		p.drop = append(p.drop, r)
	}
	for pattern, mode := range s.FailTypes {
		r, err := compile("failTypes", pattern, mode)
		if err == nil && mode != FailRetryable && mode != FailPermanent {
			err = fmt.Errorf("failTypes[%q]: %q is neither %q nor %q", pattern, mode,
				FailRetryable, FailPermanent)
		}
		errs = append(errs, err)
		p.fail = append(p.fail, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, rules := range [][]rule{p.routes, p.drop, p.fail} {
		sortBySpecificity(rules)
	}
	return p, nil
}

func compile(setting, pattern, target string) (rule, error) {
	switch {
	case pattern == "":
		return rule{}, fmt.Errorf("%s: empty type pattern", setting)
	case pattern == "*":
		return rule{pattern: pattern, target: target}, nil
	case strings.HasSuffix(pattern, ".*") && !strings.Contains(strings.TrimSuffix(pattern, "*"), "*"):
		return rule{pattern: pattern, prefix: strings.TrimSuffix(pattern, "*"), target: target}, nil
	case strings.Contains(pattern, "*"):
		return rule{}, fmt.Errorf("%s: pattern %q may only end in \".*\" or be \"*\"", setting, pattern)
	}
	return rule{pattern: pattern, exact: true, target: target}, nil
}

// sortBySpecificity puts exact types first, then longer prefixes.
func sortBySpecificity(rules []rule) {
	sort.SliceStable(rules, func(i, j int) bool {
		if rules[i].exact != rules[j].exact {
			return rules[i].exact
		}
		if len(rules[i].prefix) != len(rules[j].prefix) {
			return len(rules[i].prefix) > len(rules[j].prefix)
		}
		return rules[i].pattern < rules[j].pattern
	})
}

func first(rules []rule, eventType string) (rule, bool) {
	for _, r := range rules {
		if r.matches(eventType) {
			return r, true
		}
	}
	return rule{}, false
}

// Process routes one event.
func (p *Passthrough) Process(_ context.Context, event cloudevents.Event) ([]processor.Output, error) {
	t := event.Type()
	if r, ok := first(p.fail, t); ok {
		err := fmt.Errorf("type %s is configured to fail (failTypes %q)", t, r.pattern)
		if r.target == FailRetryable {
			return nil, processor.Retryable(err)
		}
		return nil, err
	}
	if _, ok := first(p.drop, t); ok {
		return nil, nil
	}
	output := p.defaultOutput
	if r, ok := first(p.routes, t); ok {
		output = r.target
	}
	if output == "" {
		return nil, fmt.Errorf("no route and no defaultOutput for type %s", t)
	}
	return []processor.Output{{Name: output, Event: event}}, nil
}
