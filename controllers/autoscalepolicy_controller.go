package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/controllers/autoscale"
	"github.com/eventpipe/eventpipe/controllers/lag"
	"github.com/eventpipe/eventpipe/internal/kafka"
)

// conflictRetryDelay is how soon a pass that decided on a stale policy runs again.
const conflictRetryDelay = 200 * time.Millisecond

// AutoscalePolicyReconciler owns one HorizontalPodAutoscaler per policy and
// sets its replica floor from consumer lag and scale commands, every change
// passing the rate limit and the circuit breaker of controllers/autoscale.
type AutoscalePolicyReconciler struct {
	client.Client

	// Kafka is the admin connection to the brokers, for lag.
	Kafka *KafkaAdmin

	// Commands reads the policies' command streams.
	Commands *CommandListener

	// Recorder emits Kubernetes events about policies.
	Recorder events.EventRecorder

	// updateFailed remembers the policies whose last HPA update failed, so the
	// next decision counts it; a restart forgets it, and the retry then tells.
	updateFailed sync.Map
	// committed remembers each policy's last committed offsets, to find
	// partitions whose lag does not move (excludePersistentLag).
	committed sync.Map
}

// +kubebuilder:rbac:groups=eventpipe.io,resources=autoscalepolicies,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=eventpipe.io,resources=autoscalepolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=eventpipe.io,resources=autoscalepolicies/finalizers,verbs=update
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete

// Reconcile decides one policy's floor and writes it to its HPA.
func (r *AutoscalePolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := &eventpipev1alpha1.AutoscalePolicy{}
	if err := r.Get(ctx, req.NamespacedName, p); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !p.DeletionTimestamp.IsZero() {
		r.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}

	base := p.DeepCopy()
	hpa, announce, result, err := r.reconcilePolicy(ctx, p)
	p.Status.ObservedGeneration = p.Generation

	// The status holds the breaker and rate-limit state: it is written before
	// the HPA, and only over the version this pass decided from, so a pass on
	// a stale cache can never apply an outdated floor.
	patch := client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})
	if patchErr := r.Status().Patch(ctx, p, patch); patchErr != nil {
		if apierrors.IsConflict(patchErr) && err == nil {
			log.FromContext(ctx).V(1).Info("Decided on a stale AutoscalePolicy; deciding again")
			return ctrl.Result{RequeueAfter: conflictRetryDelay}, nil
		}
		return ctrl.Result{}, errors.Join(err, fmt.Errorf("patch status: %w", patchErr))
	}
	if announce != nil {
		announce()
	}
	if err != nil || hpa == nil {
		return result, err
	}
	return r.applyHPA(ctx, p, hpa, result)
}

// applyHPA writes the floor the status now records to the HPA. A failure is
// remembered for the next decision, where it counts against the breaker.
func (r *AutoscalePolicyReconciler) applyHPA(
	ctx context.Context,
	p *eventpipev1alpha1.AutoscalePolicy,
	hpa *autoscalingv2.HorizontalPodAutoscaler,
	result ctrl.Result,
) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(p)
	err := applyOwned(ctx, r.Client, p, hpa)
	if err == nil {
		r.updateFailed.Delete(key)
		return result, nil
	}
	r.updateFailed.Store(key, true)
	base := p.DeepCopy()
	r.markNotReady(p, eventpipev1alpha1.ReasonHPAUpdateFailed,
		"The HorizontalPodAutoscaler could not be written; retrying with backoff.")
	if patchErr := r.Status().Patch(ctx, p, client.MergeFrom(base)); patchErr != nil {
		err = errors.Join(err, fmt.Errorf("patch status: %w", patchErr))
	}
	return ctrl.Result{}, err
}

// reconcilePolicy runs one pass: observe, decide, record. It returns the HPA
// to apply, or nil when there is nothing to scale, and the events to emit,
// both for once the decision is stored.
func (r *AutoscalePolicyReconciler) reconcilePolicy(
	ctx context.Context,
	p *eventpipev1alpha1.AutoscalePolicy,
) (*autoscalingv2.HorizontalPodAutoscaler, func(), ctrl.Result, error) {
	sync := durationOr(p.Spec.SyncPeriod, defaultSyncPeriod)
	target, input, err := r.resolveTarget(ctx, p)
	if err != nil || target == nil {
		return nil, nil, ctrl.Result{RequeueAfter: sync}, err
	}

	ceiling := p.Spec.MaxReplicas
	if input.Status.Partitions > 0 {
		ceiling = min(ceiling, input.Status.Partitions)
	}
	ceiling = max(ceiling, p.Spec.MinReplicas)
	policy := decisionPolicy(p, ceiling)
	obs := r.observe(ctx, p, target, input)
	state, decision := autoscale.Decide(policy, stateFromStatus(p.Status), obs)
	r.record(p, state, decision, obs, ceiling)

	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name}}
	renderHPA(hpa, p, state.Floor, ceiling)
	announce := func() { r.announce(ctx, p, decision) }
	return hpa, announce, ctrl.Result{RequeueAfter: sync}, nil
}

// resolveTarget finds the target Consumer and its input stream. A missing one
// is reported in Ready and returns a nil target.
func (r *AutoscalePolicyReconciler) resolveTarget(
	ctx context.Context,
	p *eventpipev1alpha1.AutoscalePolicy,
) (*eventpipev1alpha1.Consumer, *eventpipev1alpha1.EventStream, error) {
	target := &eventpipev1alpha1.Consumer{}
	err := r.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: p.Spec.Target}, target)
	if apierrors.IsNotFound(err) {
		r.markNotReady(p, eventpipev1alpha1.ReasonTargetNotFound, fmt.Sprintf(
			"Consumer %s does not exist in namespace %s; nothing is scaled until it does.", p.Spec.Target, p.Namespace))
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get Consumer %s: %w", p.Spec.Target, err)
	}
	input := &eventpipev1alpha1.EventStream{}
	err = r.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: target.Spec.Stream}, input)
	if apierrors.IsNotFound(err) {
		r.markNotReady(p, eventpipev1alpha1.ReasonStreamNotFound, fmt.Sprintf(
			"EventStream %s, the input of Consumer %s, does not exist.", target.Spec.Stream, target.Name))
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get EventStream %s: %w", target.Spec.Stream, err)
	}
	return target, input, nil
}

// observe gathers what this pass decides on: lag, commands, pause.
func (r *AutoscalePolicyReconciler) observe(
	ctx context.Context,
	p *eventpipev1alpha1.AutoscalePolicy,
	target *eventpipev1alpha1.Consumer,
	input *eventpipev1alpha1.EventStream,
) autoscale.Observation {
	key := client.ObjectKeyFromObject(p)
	_, failed := r.updateFailed.Load(key)
	obs := autoscale.Observation{
		Now:          time.Now(),
		Paused:       p.Spec.Paused || p.Annotations[eventpipev1alpha1.AnnotationPaused] == "true",
		UpdateFailed: failed,
		LagOK:        true,
	}

	if lt := trigger(p, eventpipev1alpha1.TriggerConsumerLag); lt != nil {
		obs.Lag, obs.LagOK = r.readLag(ctx, p, target, input, lt)
	}

	if ct := trigger(p, eventpipev1alpha1.TriggerCommands); ct != nil && r.Commands != nil {
		stream := &eventpipev1alpha1.EventStream{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: ct.Stream}, stream); err == nil &&
			stream.Status.TopicName != "" {
			r.Commands.Watch(stream.Status.TopicName, p.Namespace)
		}
		if cmd, ok := r.Commands.Latest(p.Namespace, target.Name); ok {
			obs.Commands = []autoscale.Command{{
				Time: cmd.Time, Desired: cmd.DesiredReplicas, Step: cmd.Step, Reason: cmd.Reason,
			}}
		}
	}
	return obs
}

// readLag reads the target's consumer-group lag on its input stream.
func (r *AutoscalePolicyReconciler) readLag(
	ctx context.Context,
	p *eventpipev1alpha1.AutoscalePolicy,
	target *eventpipev1alpha1.Consumer,
	input *eventpipev1alpha1.EventStream,
	t *eventpipev1alpha1.Trigger,
) (lag.Lag, bool) {
	if input.Status.TopicName == "" {
		return lag.Lag{}, false
	}
	conn, err := r.Kafka.Get()
	var offsets []lag.PartitionOffsets
	if err == nil {
		offsets, err = readOffsets(conn, target.EffectiveConsumerGroup(), input.Status.TopicName)
		if err != nil && kafka.IsUnreachable(err) {
			r.Kafka.Discard(conn)
		}
	}
	if err != nil {
		autoscaleLagErrors.WithLabelValues(p.Namespace, p.Name).Inc()
		log.FromContext(ctx).Error(err, "Cannot read consumer group lag", "group", target.EffectiveConsumerGroup())
		return lag.Lag{}, false
	}
	if t.ExcludePersistentLag {
		key := client.ObjectKeyFromObject(p)
		if prev, ok := r.committed.Load(key); ok {
			offsets = lag.ExcludePersistent(offsets, prev.(map[int32]int64))
		}
		r.committed.Store(key, lag.CommittedOffsets(offsets))
	}
	return lag.Compute(offsets, target.Spec.InitialOffset != eventpipev1alpha1.InitialOffsetLatest), true
}

func (r *AutoscalePolicyReconciler) forget(key types.NamespacedName) {
	r.updateFailed.Delete(key)
	r.committed.Delete(key)
	forgetPolicyMetrics(key)
}

// SetupWithManager registers the reconciler, its watches and the command
// channel. SetupIndexes must have run first.
func (r *AutoscalePolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		// Status writes, the policy's own and the HPA controller's, would
		// otherwise wake the policy on every pass; the sync period paces it.
		For(&eventpipev1alpha1.AutoscalePolicy{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&eventpipev1alpha1.Consumer{}, handler.EnqueueRequestsFromMapFunc(r.policiesOfConsumer)).
		Watches(&eventpipev1alpha1.EventStream{}, handler.EnqueueRequestsFromMapFunc(r.policiesOfStream)).
		WithOptions(controller.Options{
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](
				retryBaseDelay, retryMaxDelay),
		}).
		Named("autoscalepolicy")
	if r.Commands != nil {
		if err := mgr.Add(r.Commands); err != nil {
			return fmt.Errorf("add the command listener: %w", err)
		}
		b = b.WatchesRawSource(r.Commands.Source(mgr.GetClient()))
	}
	return b.Complete(r)
}

// policiesOfConsumer maps a Consumer to the policies that target it.
func (r *AutoscalePolicyReconciler) policiesOfConsumer(ctx context.Context, o client.Object) []reconcile.Request {
	return requestsByIndex(ctx, r.Client, &eventpipev1alpha1.AutoscalePolicyList{}, o.GetNamespace(),
		policyTargetIndex, o.GetName())
}

// policiesOfStream maps an EventStream to the policies of the Consumers that
// read it, so a grown partition count raises the cap at once.
func (r *AutoscalePolicyReconciler) policiesOfStream(ctx context.Context, o client.Object) []reconcile.Request {
	var consumers eventpipev1alpha1.ConsumerList
	if err := r.List(ctx, &consumers, client.InNamespace(o.GetNamespace()),
		client.MatchingFields{streamRefIndex: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "Cannot list the Consumers of a stream", "stream", o.GetName())
		return nil
	}
	var requests []reconcile.Request
	for i := range consumers.Items {
		requests = append(requests, r.policiesOfConsumer(ctx, &consumers.Items[i])...)
	}
	return requests
}

func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}
