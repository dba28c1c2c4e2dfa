package topic

import (
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

func stream(mutate func(*eventpipev1alpha1.EventStreamSpec)) *eventpipev1alpha1.EventStream {
	s := &eventpipev1alpha1.EventStream{
		ObjectMeta: metav1.ObjectMeta{Namespace: "fintech", Name: "payments"},
		Spec:       eventpipev1alpha1.EventStreamSpec{Partitions: 3},
	}
	if mutate != nil {
		mutate(&s.Spec)
	}
	return s
}

func TestFromSpec(t *testing.T) {
	tests := []struct {
		name    string
		stream  *eventpipev1alpha1.EventStream
		want    Desired
		wantErr string
	}{
		{
			name:   "defaults the topic name to namespace.name",
			stream: stream(nil),
			want:   Desired{Name: "fintech.payments", Partitions: 3, Config: map[string]string{}},
		},
		{
			name: "maps retention to retention.ms and keeps allowed configs",
			stream: stream(func(s *eventpipev1alpha1.EventStreamSpec) {
				s.TopicName = "payments-v2"
				s.ReplicationFactor = ptr.To[int32](3)
				s.Retention = &metav1.Duration{Duration: 168 * time.Hour}
				s.Config = map[string]string{"compression.type": " zstd ", "cleanup.policy": "delete"}
			}),
			want: Desired{Name: "payments-v2", Partitions: 3, ReplicationFactor: 3, Config: map[string]string{
				"retention.ms": "604800000", "compression.type": "zstd", "cleanup.policy": "delete",
			}},
		},
		{
			name: "refuses retention.ms in config",
			stream: stream(func(s *eventpipev1alpha1.EventStreamSpec) {
				s.Config = map[string]string{"retention.ms": "1000"}
			}),
			wantErr: "config key retention.ms is not allowed: use spec.retention",
		},
		{
			name: "refuses a key outside the allow-list, naming it",
			stream: stream(func(s *eventpipev1alpha1.EventStreamSpec) {
				s.Config = map[string]string{"unclean.leader.election.enable": "true"}
			}),
			wantErr: "config key unclean.leader.election.enable is not allowed",
		},
		{
			name: "refuses a bad value, naming the key",
			stream: stream(func(s *eventpipev1alpha1.EventStreamSpec) {
				s.Config = map[string]string{"compression.type": "brotli"}
			}),
			wantErr: `config compression.type="brotli" is not valid`,
		},
		{
			name: "refuses a non-positive retention",
			stream: stream(func(s *eventpipev1alpha1.EventStreamSpec) {
				s.Retention = &metav1.Duration{}
			}),
			wantErr: "retention must be positive",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromSpec(tt.stream)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FromSpec() error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromSpec() unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("FromSpec() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestValidateConfig(t *testing.T) {
	tests := []struct {
		key, value string
		wantErr    string
	}{
		{key: "cleanup.policy", value: "compact,delete"},
		{key: "cleanup.policy", value: "archive", wantErr: "use one of delete, compact"},
		{key: "message.timestamp.type", value: "LogAppendTime"},
		{key: "min.insync.replicas", value: "2"},
		{key: "min.insync.replicas", value: "0", wantErr: "below the minimum of 1"},
		{key: "retention.bytes", value: "-1"},
		{key: "segment.bytes", value: "lots", wantErr: "is not a whole number"},
		{key: "segment.bytes", value: "1024", wantErr: "below the minimum of 1048576"},
		{key: "min.cleanable.dirty.ratio", value: "0.5"},
		{key: "min.cleanable.dirty.ratio", value: "1.5", wantErr: "between 0 and 1"},
		{key: "max.message.bytes", value: "1048588"},
		{key: "flush.ms", value: "1", wantErr: "config key flush.ms is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			err := ValidateConfig(tt.key, tt.value)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("ValidateConfig() unexpected error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("ValidateConfig() error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	desired := Desired{
		Name:       "fintech.payments",
		Partitions: 6,
		Config:     map[string]string{"retention.ms": "1000", "compression.type": "zstd"},
	}
	inSync := Actual{
		Partitions:        6,
		ReplicationFactor: 1,
		Values:            map[string]string{"retention.ms": "1000", "compression.type": "zstd", "segment.ms": "1"},
		Overrides:         map[string]string{"retention.ms": "1000", "compression.type": "zstd"},
	}
	tests := []struct {
		name    string
		desired Desired
		actual  Actual
		want    Plan
	}{
		{name: "nothing to do", desired: desired, actual: inSync, want: Plan{}},
		{
			name:    "grows partitions",
			desired: desired,
			actual:  with(inSync, func(a *Actual) { a.Partitions = 3 }),
			want:    Plan{Partitions: 6},
		},
		{
			name:    "refuses to shrink partitions",
			desired: desired,
			actual:  with(inSync, func(a *Actual) { a.Partitions = 8 }),
			want: Plan{Refusal: &Refusal{
				Reason: eventpipev1alpha1.ReasonPartitionDecreaseRefused,
				Message: "Topic fintech.payments has 8 partitions and the spec asks for 6; " +
					"Kafka cannot remove partitions. Set spec.partitions to 8 or more.",
			}},
		},
		{
			name:    "leaves the replication factor to the brokers when the spec does not say",
			desired: desired,
			actual:  with(inSync, func(a *Actual) { a.ReplicationFactor = 3 }),
			want:    Plan{},
		},
		{
			name:    "refuses a replication factor change",
			desired: with(desired, func(d *Desired) { d.ReplicationFactor = 3 }),
			actual:  inSync,
			want:    Plan{Refusal: &Refusal{Reason: eventpipev1alpha1.ReasonReplicationFactorChangeRefused}},
		},
		{
			name:    "sets a changed value and removes an override the spec does not have",
			desired: desired,
			actual: with(inSync, func(a *Actual) {
				a.Values = map[string]string{"retention.ms": "5", "compression.type": "zstd", "segment.ms": "9"}
				a.Overrides = map[string]string{"retention.ms": "5", "compression.type": "zstd", "segment.ms": "9"}
			}),
			want: Plan{Set: map[string]string{"retention.ms": "1000"}, Delete: []string{"segment.ms"}},
		},
		{
			name:    "sets a config Kafka does not report",
			desired: desired,
			actual:  with(inSync, func(a *Actual) { a.Values = map[string]string{"retention.ms": "1000"} }),
			want:    Plan{Set: map[string]string{"compression.type": "zstd"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compare(tt.desired, tt.actual)
			if tt.want.Refusal != nil && got.Refusal != nil && tt.want.Refusal.Message == "" {
				got.Refusal.Message = ""
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Compare() = %+v, want %+v", got, tt.want)
			}
			if got.Empty() != reflect.DeepEqual(tt.want, Plan{}) {
				t.Errorf("Empty() = %v for %+v", got.Empty(), got)
			}
		})
	}
}

func TestPlanConfigKeys(t *testing.T) {
	p := Plan{Set: map[string]string{"segment.ms": "1", "cleanup.policy": "compact"}, Delete: []string{"retention.bytes"}}
	want := []string{"cleanup.policy", "retention.bytes", "segment.ms"}
	if got := p.ConfigKeys(); !reflect.DeepEqual(got, want) {
		t.Errorf("ConfigKeys() = %v, want %v", got, want)
	}
}

func TestManagedKeysIncludeRetention(t *testing.T) {
	keys := ManagedKeys()
	if len(keys) != len(eventpipev1alpha1.AllowedTopicConfigKeys)+1 || keys[0] > keys[len(keys)-1] {
		t.Fatalf("ManagedKeys() = %v", keys)
	}
	found := false
	for _, k := range keys {
		found = found || k == RetentionKey
	}
	if !found {
		t.Fatalf("ManagedKeys() = %v lacks %s", keys, RetentionKey)
	}
}

func with[T any](v T, mutate func(*T)) T {
	mutate(&v)
	return v
}
