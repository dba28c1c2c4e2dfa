package lag

import (
	"reflect"
	"testing"
)

func TestCompute(t *testing.T) {
	tests := []struct {
		name         string
		offsets      []PartitionOffsets
		fromEarliest bool
		want         Lag
	}{
		{
			name: "committed offsets",
			offsets: []PartitionOffsets{
				{Partition: 0, LogStart: 0, LogEnd: 100, Committed: 40},
				{Partition: 1, LogStart: 0, LogEnd: 50, Committed: 50},
			},
			want: Lag{Total: 60, Max: 60, Partitions: map[int32]int64{0: 60, 1: 0}, Lagging: 1},
		},
		{
			name:         "no committed offset, starting at the earliest counts what Kafka keeps",
			offsets:      []PartitionOffsets{{Partition: 0, LogStart: 20, LogEnd: 120, Committed: NoOffset}},
			fromEarliest: true,
			want:         Lag{Total: 100, Max: 100, Partitions: map[int32]int64{0: 100}, Lagging: 1},
		},
		{
			name:    "no committed offset, starting at the latest counts nothing",
			offsets: []PartitionOffsets{{Partition: 0, LogStart: 20, LogEnd: 120, Committed: NoOffset}},
			want:    Lag{Partitions: map[int32]int64{0: 0}},
		},
		{
			name:    "a committed offset retention has passed counts from the log start",
			offsets: []PartitionOffsets{{Partition: 3, LogStart: 500, LogEnd: 600, Committed: 10}},
			want:    Lag{Total: 100, Max: 100, Partitions: map[int32]int64{3: 100}, Lagging: 1},
		},
		{
			name:    "a committed offset past the end (a recreated topic) is no lag, not negative",
			offsets: []PartitionOffsets{{Partition: 0, LogStart: 0, LogEnd: 5, Committed: 9}},
			want:    Lag{Partitions: map[int32]int64{0: 0}},
		},
		{name: "no partitions", want: Lag{Partitions: map[int32]int64{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compute(tt.offsets, tt.fromEarliest); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Compute() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSorted(t *testing.T) {
	l := Lag{Partitions: map[int32]int64{2: 1, 0: 3, 1: 0}}
	if got := l.Sorted(); !reflect.DeepEqual(got, []int32{0, 1, 2}) {
		t.Errorf("Sorted() = %v", got)
	}
}

func TestExcludePersistent(t *testing.T) {
	offsets := []PartitionOffsets{
		{Partition: 0, LogEnd: 100, Committed: 40},      // stuck: same as before, lag
		{Partition: 1, LogEnd: 100, Committed: 60},      // moved
		{Partition: 2, LogEnd: 50, Committed: 50},       // caught up: no lag, stays
		{Partition: 3, LogEnd: 10, Committed: NoOffset}, // never started: stays
		{Partition: 4, LogEnd: 10, Committed: 5},        // not seen before: stays
	}
	prev := map[int32]int64{0: 40, 1: 30, 2: 50, 3: NoOffset}
	got := ExcludePersistent(offsets, prev)
	var parts []int32
	for _, o := range got {
		parts = append(parts, o.Partition)
	}
	if !reflect.DeepEqual(parts, []int32{1, 2, 3, 4}) {
		t.Errorf("ExcludePersistent() kept %v, want [1 2 3 4]", parts)
	}
	if c := CommittedOffsets(offsets); c[0] != 40 || c[3] != NoOffset || len(c) != 5 {
		t.Errorf("CommittedOffsets() = %v", c)
	}
}
