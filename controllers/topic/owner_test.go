package topic

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

func TestOwner(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Minute))
	mk := func(ns, name, topic, claimed string, created metav1.Time) eventpipev1alpha1.EventStream {
		return eventpipev1alpha1.EventStream{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: created},
			Spec:       eventpipev1alpha1.EventStreamSpec{TopicName: topic},
			Status:     eventpipev1alpha1.EventStreamStatus{TopicName: claimed},
		}
	}
	tests := []struct {
		name    string
		streams []eventpipev1alpha1.EventStream
		want    string
	}{
		{name: "no streams", want: ""},
		{
			name:    "the oldest wins when nobody has claimed",
			streams: []eventpipev1alpha1.EventStream{mk("b", "new", "t", "", t1), mk("a", "old", "t", "", t0)},
			want:    "a/old",
		},
		{
			name:    "a claim beats age",
			streams: []eventpipev1alpha1.EventStream{mk("a", "old", "t", "", t0), mk("b", "new", "t", "t", t1)},
			want:    "b/new",
		},
		{
			name: "namespace then name break ties",
			streams: []eventpipev1alpha1.EventStream{
				mk("b", "x", "t", "", t0), mk("a", "z", "t", "", t0), mk("a", "y", "t", "", t0),
			},
			want: "a/y",
		},
		{
			name:    "streams of other topics are ignored",
			streams: []eventpipev1alpha1.EventStream{mk("a", "other", "u", "u", t0), mk("b", "mine", "t", "", t1)},
			want:    "b/mine",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if o := Owner(tt.streams, "t"); o != nil {
				got = o.Namespace + "/" + o.Name
			}
			if got != tt.want {
				t.Errorf("Owner() = %q, want %q", got, tt.want)
			}
		})
	}
}
