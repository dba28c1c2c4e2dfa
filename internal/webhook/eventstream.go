// Package webhook holds eventpipe's admission webhooks. They refuse at
// admission what the CRD schema's CEL rules cannot express, with the same
// checks the reconcilers make, so a bad spec fails at `kubectl apply` rather
// than later in a status condition.
package webhook

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/controllers/topic"
)

// +kubebuilder:webhook:path=/validate-eventpipe-io-v1alpha1-eventstream,mutating=false,failurePolicy=fail,sideEffects=None,groups=eventpipe.io,resources=eventstreams,verbs=create;update,versions=v1alpha1,name=veventstream.eventpipe.io,admissionReviewVersions=v1

// EventStreamValidator refuses EventStreams whose topic configs Kafka would
// refuse, naming the key and saying what is accepted.
type EventStreamValidator struct{}

// SetupEventStreamWebhook registers the EventStream validating webhook.
func SetupEventStreamWebhook(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &eventpipev1alpha1.EventStream{}).
		WithValidator(EventStreamValidator{}).
		Complete()
}

// ValidateCreate checks a new EventStream.
func (EventStreamValidator) ValidateCreate(
	_ context.Context,
	stream *eventpipev1alpha1.EventStream,
) (admission.Warnings, error) {
	return validateEventStream(stream)
}

// ValidateUpdate checks a changed EventStream. The CEL rules of the schema
// already guard the immutable fields.
func (EventStreamValidator) ValidateUpdate(
	_ context.Context,
	_, stream *eventpipev1alpha1.EventStream,
) (admission.Warnings, error) {
	return validateEventStream(stream)
}

// ValidateDelete allows every deletion.
func (EventStreamValidator) ValidateDelete(
	context.Context,
	*eventpipev1alpha1.EventStream,
) (admission.Warnings, error) {
	return nil, nil
}

func validateEventStream(stream *eventpipev1alpha1.EventStream) (admission.Warnings, error) {
	if _, err := topic.FromSpec(stream); err != nil {
		return nil, fmt.Errorf("EventStream %s: %w", stream.Name, err)
	}
	return nil, nil
}
