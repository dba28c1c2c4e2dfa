package controllers

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/controllers/conditions"
)

// markReady sets Ready True: the topic exists and can be used.
func (r *EventStreamReconciler) markReady(stream *eventpipev1alpha1.EventStream, message string) {
	conditions.Set(&stream.Status.Conditions, stream.Generation, eventpipev1alpha1.ConditionReady,
		metav1.ConditionTrue, eventpipev1alpha1.ReasonTopicReady, message)
}

// markNotReady sets Ready False with reason. It returns true when the reason is
// new, so the caller emits a Warning event once per problem, not once per retry.
func (r *EventStreamReconciler) markNotReady(stream *eventpipev1alpha1.EventStream, reason, message string) bool {
	return conditions.Set(&stream.Status.Conditions, stream.Generation, eventpipev1alpha1.ConditionReady,
		metav1.ConditionFalse, reason, message)
}

// markDrifted sets Drifted True, listing the configs that differ.
func (r *EventStreamReconciler) markDrifted(stream *eventpipev1alpha1.EventStream, keys []string) {
	msg := fmt.Sprintf("The topic's %s differ from the spec. Drift policy Report leaves them as they are; "+
		"set driftPolicy: Revert to put them back.", strings.Join(keys, ", "))
	if conditions.Set(&stream.Status.Conditions, stream.Generation, eventpipev1alpha1.ConditionDrifted,
		metav1.ConditionTrue, eventpipev1alpha1.ReasonDriftDetected, msg) {
		r.Recorder.Eventf(stream, nil, corev1.EventTypeWarning, eventpipev1alpha1.ReasonDriftDetected, "Resync", msg)
	}
}

// markInSync sets Drifted False: at this sync the topic matches the spec.
func (r *EventStreamReconciler) markInSync(stream *eventpipev1alpha1.EventStream) {
	conditions.Set(&stream.Status.Conditions, stream.Generation, eventpipev1alpha1.ConditionDrifted,
		metav1.ConditionFalse, eventpipev1alpha1.ReasonNoDrift, "The topic matches the spec.")
}
