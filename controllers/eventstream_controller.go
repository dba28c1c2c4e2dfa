// Package controllers holds one reconciler per eventpipe kind.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/internal/kafka"
)

const (
	// DefaultTopicResyncInterval is how often a topic is compared with its
	// EventStream when nothing else triggers a reconcile: the drift check.
	DefaultTopicResyncInterval = 5 * time.Minute

	// topicIndex is the field index of EventStreams by their topic name, used to
	// find streams that claim the same topic.
	topicIndex = "eventpipe.io/topic"

	// retryBaseDelay and retryMaxDelay bound the backoff after an error, such as
	// unreachable brokers: quick enough to recover soon, slow enough not to spin.
	retryBaseDelay = time.Second
	retryMaxDelay  = 2 * time.Minute
)

// EventStreamReconciler keeps a Kafka topic true to each EventStream.
type EventStreamReconciler struct {
	client.Client

	// Kafka is the admin connection to the brokers.
	Kafka *KafkaAdmin

	// Topics creates topics in batches; it must be running (added to the manager).
	Topics *kafka.TopicCreator

	// Recorder emits Kubernetes events about EventStreams.
	Recorder events.EventRecorder

	// ResyncInterval is how often a Ready stream is compared with Kafka to find
	// drift. Default: DefaultTopicResyncInterval.
	ResyncInterval time.Duration

	// MaxConcurrentReconciles is how many streams are reconciled at once.
	// Default: 8.
	MaxConcurrentReconciles int
}

// +kubebuilder:rbac:groups=eventpipe.io,resources=eventstreams,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=eventpipe.io,resources=eventstreams/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=eventpipe.io,resources=eventstreams/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile makes the topic of one EventStream match its spec, or says in the
// status why it cannot.
func (r *EventStreamReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	stream := &eventpipev1alpha1.EventStream{}
	if err := r.Get(ctx, req.NamespacedName, stream); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}

	if !stream.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, stream)
	}

	if controllerutil.AddFinalizer(stream, eventpipev1alpha1.FinalizerTopic) {
		if err := r.Update(ctx, stream); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}

	base := stream.DeepCopy()
	result, err := r.reconcileTopic(ctx, stream)
	stream.Status.ObservedGeneration = stream.Generation

	if patchErr := r.Status().Patch(ctx, stream, client.MergeFrom(base)); patchErr != nil {
		return ctrl.Result{}, errors.Join(err, fmt.Errorf("patch status: %w", patchErr))
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	return result, nil
}

// reconcileDelete releases the finalizer once the topic is deleted (policy
// Delete) or deliberately kept (policy Retain, or the orphan annotation).
func (r *EventStreamReconciler) reconcileDelete(
	ctx context.Context,
	stream *eventpipev1alpha1.EventStream,
) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(stream, eventpipev1alpha1.FinalizerTopic) {
		return ctrl.Result{}, nil
	}
	owned := stream.Status.TopicName
	deleteTopic := owned != "" &&
		stream.Spec.DeletionPolicy == eventpipev1alpha1.DeletionPolicyDelete &&
		stream.Annotations[eventpipev1alpha1.AnnotationOrphan] != "true"

	if deleteTopic {
		if err := r.deleteTopic(ctx, stream, owned); err != nil {
			return ctrl.Result{}, err
		}
	} else if owned != "" {
		r.Recorder.Eventf(stream, nil, corev1.EventTypeNormal, eventpipev1alpha1.ReasonTopicRetained,
			"Delete", "Kept topic %s and its data", owned)
		log.FromContext(ctx).Info("Retained topic", "topic", owned)
	}

	controllerutil.RemoveFinalizer(stream, eventpipev1alpha1.FinalizerTopic)
	if err := r.Update(ctx, stream); err != nil {
		return ctrl.Result{}, fmt.Errorf("remove finalizer: %w", err)
	}
	return ctrl.Result{}, nil
}

// onlyDeletes passes delete events and nothing else.
var onlyDeletes = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	UpdateFunc:  func(event.UpdateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// SetupWithManager registers the reconciler and its watches. SetupIndexes
// must have run first.
func (r *EventStreamReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.ResyncInterval <= 0 {
		r.ResyncInterval = DefaultTopicResyncInterval
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = 8
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&eventpipev1alpha1.EventStream{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// A stream that loses a conflict waits for the winner to go away.
		Watches(&eventpipev1alpha1.EventStream{}, handler.EnqueueRequestsFromMapFunc(r.sameTopicStreams),
			builder.WithPredicates(onlyDeletes)).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.MaxConcurrentReconciles,
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](
				retryBaseDelay, retryMaxDelay),
		}).
		Named("eventstream").
		Complete(r)
}

// sameTopicStreams maps a deleted stream to the other streams that name its
// topic, so the next in line takes the topic over.
func (r *EventStreamReconciler) sameTopicStreams(ctx context.Context, o client.Object) []reconcile.Request {
	deleted := o.(*eventpipev1alpha1.EventStream)
	var list eventpipev1alpha1.EventStreamList
	if err := r.List(ctx, &list, client.MatchingFields{topicIndex: deleted.EffectiveTopicName()}); err != nil {
		log.FromContext(ctx).Error(err, "Cannot list EventStreams of a deleted stream's topic")
		return nil
	}
	var requests []reconcile.Request
	for _, s := range list.Items {
		if s.Namespace != deleted.Namespace || s.Name != deleted.Name {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&s)})
		}
	}
	return requests
}
