// Package lag computes a consumer group's lag from offsets, with the semantics
// platform engineers know from KEDA's Kafka scaler: a partition without a
// committed offset counts according to where the group would start.
package lag

import "sort"

// NoOffset is the committed offset of a partition the group never committed.
const NoOffset int64 = -1

// PartitionOffsets are the offsets of one partition.
type PartitionOffsets struct {
	// Partition is the partition number.
	Partition int32
	// LogStart is the oldest offset Kafka still keeps.
	LogStart int64
	// LogEnd is the offset the next event will get.
	LogEnd int64
	// Committed is the group's committed offset, or NoOffset.
	Committed int64
}

// Lag is a group's lag on one topic.
type Lag struct {
	// Total is the sum over partitions.
	Total int64
	// Max is the lag of the partition furthest behind.
	Max int64
	// Partitions holds each partition's lag, by partition number.
	Partitions map[int32]int64
	// Lagging counts the partitions with a lag above zero.
	Lagging int
}

// Compute returns the lag of each partition and their sum. fromEarliest says
// where a group without a committed offset starts: at the log start (its lag
// is everything Kafka keeps) or at the log end (its lag is zero). A committed
// offset below the log start counts from the log start, as the events before
// it are gone.
func Compute(offsets []PartitionOffsets, fromEarliest bool) Lag {
	l := Lag{Partitions: make(map[int32]int64, len(offsets))}
	for _, o := range offsets {
		var n int64
		switch {
		case o.Committed == NoOffset && fromEarliest:
			n = o.LogEnd - o.LogStart
		case o.Committed == NoOffset:
			n = 0
		default:
			n = o.LogEnd - max(o.Committed, o.LogStart)
		}
		n = max(n, 0)
		l.Partitions[o.Partition] = n
		l.Total += n
		l.Max = max(l.Max, n)
		if n > 0 {
			l.Lagging++
		}
	}
	return l
}

// Sorted returns the partition numbers in order.
func (l Lag) Sorted() []int32 {
	ps := make([]int32, 0, len(l.Partitions))
	for p := range l.Partitions {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

// CommittedOffsets returns the committed offset of each partition.
func CommittedOffsets(offsets []PartitionOffsets) map[int32]int64 {
	out := make(map[int32]int64, len(offsets))
	for _, o := range offsets {
		out[o.Partition] = o.Committed
	}
	return out
}

// ExcludePersistent leaves out the partitions whose committed offset has not
// moved since prev although they have lag: a group stuck on them gains
// nothing from more replicas. Partitions without a committed offset stay,
// since nobody has started on them.
func ExcludePersistent(offsets []PartitionOffsets, prev map[int32]int64) []PartitionOffsets {
	out := offsets[:0:0]
	for _, o := range offsets {
		before, seen := prev[o.Partition]
		stuck := seen && o.Committed != NoOffset && o.Committed == before && o.LogEnd > o.Committed
		if !stuck {
			out = append(out, o)
		}
	}
	return out
}
