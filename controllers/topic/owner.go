package topic

import (
	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

// Owner picks, among the EventStreams that name the same topic, the one that
// manages it: a stream that has already claimed it in its status wins, then the
// oldest, then the first by namespace and name. The others are in conflict.
// It returns nil for an empty list.
func Owner(streams []eventpipev1alpha1.EventStream, topic string) *eventpipev1alpha1.EventStream {
	var owner *eventpipev1alpha1.EventStream
	for i := range streams {
		s := &streams[i]
		if s.EffectiveTopicName() != topic {
			continue
		}
		if owner == nil || ownsBefore(s, owner, topic) {
			owner = s
		}
	}
	return owner
}

func ownsBefore(a, b *eventpipev1alpha1.EventStream, topic string) bool {
	aClaimed, bClaimed := a.Status.TopicName == topic, b.Status.TopicName == topic
	if aClaimed != bClaimed {
		return aClaimed
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}
