// Package topic holds the pure decisions of the EventStream reconciler: the
// topic a spec asks for, and what must change to turn the topic Kafka has into
// it. Nothing here talks to Kafka or Kubernetes.
package topic

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

// RetentionKey is the Kafka config that spec.retention sets.
const RetentionKey = "retention.ms"

// Desired is the topic an EventStream asks for.
type Desired struct {
	// Name is the Kafka topic name.
	Name string
	// Partitions is the partition count.
	Partitions int32
	// ReplicationFactor is the replica count of each partition; 0 leaves it to
	// the brokers' default.
	ReplicationFactor int32
	// Config holds the managed configs the spec gives a value, by Kafka name.
	Config map[string]string
}

// Actual is the topic as Kafka has it.
type Actual struct {
	// Partitions is the partition count.
	Partitions int32
	// ReplicationFactor is the replica count of the first partition.
	ReplicationFactor int32
	// Values holds the effective value of each managed config, whatever set it
	// (the topic, the broker or Kafka's default).
	Values map[string]string
	// Overrides holds the managed configs set on the topic itself.
	Overrides map[string]string
}

// Refusal is a difference the operator will not resolve: the spec cannot be
// met without losing data or moving replicas.
type Refusal struct {
	// Reason is a condition reason from api/v1alpha1.
	Reason string
	// Message says what differs and what the user can do.
	Message string
}

// Plan is what must change to turn an Actual topic into a Desired one.
type Plan struct {
	// Partitions is the new partition count, or 0 when it is right.
	Partitions int32
	// Set holds the configs to set, with their values.
	Set map[string]string
	// Delete lists the topic-level overrides to remove, so the default applies.
	Delete []string
	// Refusal is set when the topic cannot be made to match the spec.
	Refusal *Refusal
}

// ManagedKeys are the configs the operator owns on every topic: the allow-list
// and retention.ms. Any of them set on a topic but absent from the spec is
// drift.
func ManagedKeys() []string {
	keys := append([]string{RetentionKey}, eventpipev1alpha1.AllowedTopicConfigKeys...)
	sort.Strings(keys)
	return keys
}

// FromSpec returns the topic a stream asks for. It refuses config keys that are
// not allowed and values Kafka would refuse, naming the key.
func FromSpec(stream *eventpipev1alpha1.EventStream) (Desired, error) {
	d := Desired{
		Name:       stream.EffectiveTopicName(),
		Partitions: stream.Spec.Partitions,
		Config:     make(map[string]string, len(stream.Spec.Config)+1),
	}
	if stream.Spec.ReplicationFactor != nil {
		d.ReplicationFactor = *stream.Spec.ReplicationFactor
	}
	for key, value := range stream.Spec.Config {
		if err := ValidateConfig(key, value); err != nil {
			return Desired{}, err
		}
		d.Config[key] = strings.TrimSpace(value)
	}
	if r := stream.Spec.Retention; r != nil {
		if r.Duration <= 0 {
			return Desired{}, fmt.Errorf("retention must be positive, not %s", r.Duration)
		}
		d.Config[RetentionKey] = strconv.FormatInt(r.Milliseconds(), 10)
	}
	return d, nil
}

// Compare returns the changes that turn actual into desired.
func Compare(desired Desired, actual Actual) Plan {
	var plan Plan
	if actual.Partitions > desired.Partitions {
		plan.Refusal = &Refusal{
			Reason: eventpipev1alpha1.ReasonPartitionDecreaseRefused,
			Message: fmt.Sprintf("Topic %s has %d partitions and the spec asks for %d; "+
				"Kafka cannot remove partitions. Set spec.partitions to %d or more.",
				desired.Name, actual.Partitions, desired.Partitions, actual.Partitions),
		}
		return plan
	}
	if desired.ReplicationFactor != 0 && actual.ReplicationFactor != desired.ReplicationFactor {
		plan.Refusal = &Refusal{
			Reason: eventpipev1alpha1.ReasonReplicationFactorChangeRefused,
			Message: fmt.Sprintf("Topic %s has replication factor %d and the spec asks for %d; "+
				"the operator does not reassign replicas. Recreate the EventStream with "+
				"replicationFactor %d, or move the replicas with Kafka's reassignment tools.",
				desired.Name, actual.ReplicationFactor, desired.ReplicationFactor,
				actual.ReplicationFactor),
		}
		return plan
	}
	if actual.Partitions < desired.Partitions {
		plan.Partitions = desired.Partitions
	}

	for key, want := range desired.Config {
		if got, ok := actual.Values[key]; !ok || got != want {
			if plan.Set == nil {
				plan.Set = map[string]string{}
			}
			plan.Set[key] = want
		}
	}
	for key := range actual.Overrides {
		if _, wanted := desired.Config[key]; !wanted {
			plan.Delete = append(plan.Delete, key)
		}
	}
	sort.Strings(plan.Delete)
	return plan
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool {
	return p.Refusal == nil && p.Partitions == 0 && len(p.Set) == 0 && len(p.Delete) == 0
}

// ConfigKeys lists, sorted, the configs the plan sets or deletes.
func (p Plan) ConfigKeys() []string {
	keys := make([]string, 0, len(p.Set)+len(p.Delete))
	for k := range p.Set {
		keys = append(keys, k)
	}
	keys = append(keys, p.Delete...)
	sort.Strings(keys)
	return slices.Compact(keys)
}
