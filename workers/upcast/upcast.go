// Package upcast rewrites old versions of an event into the current one, so a
// processor only ever sees the version it was written for.
//
// The version of an event is its `schemaversion` CloudEvents extension, the
// same version strings an EventStream lists for each type. The extension
// rather than dataschema is used because a version is a short label
// ("1", "2") that producers set without hosting a schema document, and it
// survives the binary content mode as the ce_schemaversion header. An event
// without the extension is at DefaultVersion.
package upcast

import (
	"errors"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// Extension is the CloudEvents extension that holds an event's schema version.
const Extension = "schemaversion"

// DefaultVersion is the version of an event that does not say its version.
const DefaultVersion = "1"

// ErrUnknownVersion is returned for an event whose type is known but whose
// version is neither current nor upcastable.
var ErrUnknownVersion = errors.New("unknown schema version")

// Func rewrites an event of one version into the next version in place; it
// need not set the version extension, Upcast does.
type Func func(event *cloudevents.Event) error

type step struct {
	to string
	fn Func
}

type chain struct {
	current string
	steps   map[string]step
}

// Registry holds, per CloudEvents type, the current version and the steps
// from older versions towards it. The zero value is not usable; use New. A
// Registry is filled before workers start and only read afterwards.
type Registry struct {
	types map[string]*chain
}

// New returns an empty registry: every event passes unchanged.
func New() *Registry {
	return &Registry{types: map[string]*chain{}}
}

// SetCurrent declares the version processors expect for eventType.
func (r *Registry) SetCurrent(eventType, version string) *Registry {
	r.chain(eventType).current = version
	return r
}

// Add registers the step from one version of eventType to the next.
func (r *Registry) Add(eventType, from, to string, fn Func) *Registry {
	r.chain(eventType).steps[from] = step{to: to, fn: fn}
	return r
}

func (r *Registry) chain(eventType string) *chain {
	c, ok := r.types[eventType]
	if !ok {
		c = &chain{steps: map[string]step{}}
		r.types[eventType] = c
	}
	return c
}

// Version returns the schema version an event declares, or DefaultVersion.
func Version(event cloudevents.Event) string {
	v, ok := event.Extensions()[Extension]
	if !ok {
		return DefaultVersion
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return fmt.Sprint(v)
	}
	return s
}

// Upcast brings event to the current version of its type. Types the registry
// does not know pass unchanged. An unknown version, or a chain of steps that
// never reaches the current version, returns an error wrapping
// ErrUnknownVersion; an error of a step is returned wrapped.
func (r *Registry) Upcast(event *cloudevents.Event) error {
	if r == nil {
		return nil
	}
	c, ok := r.types[event.Type()]
	if !ok {
		return nil
	}
	version := Version(*event)
	from := version
	for range len(c.steps) + 1 {
		if version == c.current {
			if from != version {
				event.SetExtension(Extension, version)
			}
			return nil
		}
		s, ok := c.steps[version]
		if !ok {
			break
		}
		if err := s.fn(event); err != nil {
			return fmt.Errorf("upcast %s from version %s to %s: %w", event.Type(), version, s.to, err)
		}
		version = s.to
	}
	return fmt.Errorf("%w %q for type %s (current %q)", ErrUnknownVersion, from, event.Type(), c.current)
}
