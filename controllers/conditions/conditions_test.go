package conditions

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSet(t *testing.T) {
	var conds []metav1.Condition
	steps := []struct {
		name           string
		generation     int64
		status         metav1.ConditionStatus
		reason, msg    string
		wantTransition bool
	}{
		{name: "a new condition is a transition", generation: 1, status: metav1.ConditionFalse,
			reason: "KafkaUnreachable", msg: "down", wantTransition: true},
		{name: "a new message alone is not", generation: 1, status: metav1.ConditionFalse,
			reason: "KafkaUnreachable", msg: "still down", wantTransition: false},
		{name: "a new reason is", generation: 2, status: metav1.ConditionFalse,
			reason: "TopicConflict", msg: "taken", wantTransition: true},
		{name: "a new status is", generation: 2, status: metav1.ConditionTrue,
			reason: "TopicConflict", msg: "taken", wantTransition: true},
	}
	for _, s := range steps {
		if got := Set(&conds, s.generation, "Ready", s.status, s.reason, s.msg); got != s.wantTransition {
			t.Errorf("%s: Set() = %v, want %v", s.name, got, s.wantTransition)
		}
		if len(conds) != 1 {
			t.Fatalf("%s: %d conditions, want 1", s.name, len(conds))
		}
		c := conds[0]
		if c.ObservedGeneration != s.generation || c.Message != s.msg || c.Status != s.status {
			t.Errorf("%s: condition = %+v", s.name, c)
		}
	}
	if !IsTrue(conds, "Ready") || IsTrue(conds, "Drifted") {
		t.Errorf("IsTrue() wrong for %+v", conds)
	}
	if Reason(conds, "Ready") != "TopicConflict" || Reason(conds, "Drifted") != "" {
		t.Errorf("Reason() wrong for %+v", conds)
	}
}
