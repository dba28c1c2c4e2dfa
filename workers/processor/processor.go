// Package processor defines what a use-case processor is to the worker
// runtime, and the registry that `--processor` picks from.
//
// A processor sees one decoded, upcast CloudEvent at a time and returns the
// events to emit, each to a named output. The runtime does everything else:
// consuming, decoding, retries, dead letters, dedup, transactions and offsets.
package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/eventpipe/eventpipe/workers/upcast"
)

// Output is one event a processor emits.
type Output struct {
	// Name is the output, one of the Consumer's spec.outputs keys.
	Name string
	// Event is the CloudEvent to write.
	Event cloudevents.Event
	// Key is the Kafka message key. Empty: the event's partitionkey extension,
	// else its subject, else its id.
	Key string
}

// Processor handles the events of one partition at a time: the runtime never
// calls Process concurrently for events of the same partition.
type Processor interface {
	// Process handles one event. A returned error marked with Retryable is
	// retried with backoff; any other error sends the event to the
	// dead-letter stream at once.
	Process(ctx context.Context, event cloudevents.Event) ([]Output, error)
}

// Definition registers one processor.
type Definition struct {
	// Name is the value of --processor and of a Consumer's spec.processor.
	Name string
	// Outputs are the output names the processor may emit to.
	Outputs []string
	// Validate checks the processor's settings, naming a bad one. The manager
	// calls it before it renders workers; nil accepts any settings.
	Validate func(settings json.RawMessage) error
	// New builds the processor from its settings.
	New func(settings json.RawMessage) (Processor, error)
	// Upcasters bring old schema versions of the processor's input types to
	// the current one before Process sees them; nil passes every event as it
	// comes.
	Upcasters *upcast.Registry
}

var (
	mu       sync.RWMutex
	registry = map[string]Definition{}
)

// Register adds a processor. Processor packages call it from init; a second
// definition of one name panics, as it is a programming error.
func Register(d Definition) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[d.Name]; dup {
		panic(fmt.Sprintf("processor %q registered twice", d.Name))
	}
	registry[d.Name] = d
}

// Lookup returns the processor of a name.
func Lookup(name string) (Definition, bool) {
	mu.RLock()
	defer mu.RUnlock()
	d, ok := registry[name]
	return d, ok
}

// Names lists the registered processors, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ValidateSettings checks settings with the named processor's own validation.
func ValidateSettings(name string, settings json.RawMessage) error {
	d, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("processor %q is not built into this version of eventpipe", name)
	}
	if d.Validate == nil {
		return nil
	}
	return d.Validate(settings)
}

// retryable marks an error worth trying again.
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// Retryable marks err as transient: the runtime retries the event with backoff
// instead of dead-lettering it at once.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return retryable{err: err}
}

// IsRetryable reports whether err, or an error it wraps, was marked Retryable.
func IsRetryable(err error) bool {
	var r retryable
	return errors.As(err, &r)
}
