// Package conditions sets metav1.Conditions the way every eventpipe reconciler
// does: stamped with the generation they describe, and telling the caller when
// something a person would notice has changed.
package conditions

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Set puts a condition of type t into conds, stamped with generation. It returns
// true when the condition is new or its status or reason changed, which is when
// a reconciler emits an event; a new message alone is not a transition.
func Set(
	conds *[]metav1.Condition,
	generation int64,
	t string,
	status metav1.ConditionStatus,
	reason, message string,
) bool {
	prev := meta.FindStatusCondition(*conds, t)
	transition := prev == nil || prev.Status != status || prev.Reason != reason
	meta.SetStatusCondition(conds, metav1.Condition{
		Type:               t,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: generation,
	})
	return transition
}

// IsTrue reports whether the condition of type t is present and True.
func IsTrue(conds []metav1.Condition, t string) bool {
	return meta.IsStatusConditionTrue(conds, t)
}

// Reason returns the reason of the condition of type t, or "" when it is absent.
func Reason(conds []metav1.Condition, t string) string {
	if c := meta.FindStatusCondition(conds, t); c != nil {
		return c.Reason
	}
	return ""
}
