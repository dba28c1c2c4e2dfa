package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/internal/kafka"
)

const (
	// DefaultLagRefreshInterval is how often a Consumer's lag is read from Kafka.
	DefaultLagRefreshInterval = 15 * time.Second

	// streamRefIndex indexes Consumers by every EventStream they name.
	streamRefIndex = "eventpipe.io/stream-ref"

	// policyTargetIndex indexes AutoscalePolicies by their target Consumer.
	policyTargetIndex = "eventpipe.io/policy-target"

	// groupLeaveDelay is how soon a deleted Consumer is looked at again while
	// its workers are still leaving the consumer group.
	groupLeaveDelay = 2 * time.Second
)

// ConsumerReconciler renders and owns each Consumer's worker Deployment,
// its configuration, metrics Service and PodDisruptionBudget, and reports the
// consumer group's lag.
type ConsumerReconciler struct {
	client.Client

	// Kafka is the admin connection to the brokers, for lag and group deletion.
	Kafka *KafkaAdmin

	// Recorder emits Kubernetes events about Consumers.
	Recorder events.EventRecorder

	// WorkerImage is the worker image of Consumers that set no spec.image.
	WorkerImage string

	// WorkerKafka is the Kafka connection the workers are given.
	WorkerKafka kafka.Config

	// WorkerKafkaSecret names a Secret, in each Consumer's namespace, with the
	// Kafka connection files the workers mount. Empty: none is mounted.
	WorkerKafkaSecret string

	// LagRefreshInterval is how often lag is read. Default: DefaultLagRefreshInterval.
	LagRefreshInterval time.Duration
}

// +kubebuilder:rbac:groups=eventpipe.io,resources=consumers,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=eventpipe.io,resources=consumers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=eventpipe.io,resources=consumers/finalizers,verbs=update
// +kubebuilder:rbac:groups=eventpipe.io,resources=autoscalepolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps;services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete

// Reconcile makes one Consumer's workers match its spec and reports on them.
func (r *ConsumerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	c := &eventpipev1alpha1.Consumer{}
	if err := r.Get(ctx, req.NamespacedName, c); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}

	if !c.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, c)
	}

	if err := r.reconcileFinalizer(ctx, c); err != nil {
		return ctrl.Result{}, err
	}

	base := c.DeepCopy()
	input, err := r.reconcileWorkers(ctx, c)
	r.refreshLag(ctx, c, input)
	r.summarise(c)
	c.Status.ObservedGeneration = c.Generation

	if patchErr := r.Status().Patch(ctx, c, client.MergeFrom(base)); patchErr != nil {
		return ctrl.Result{}, errors.Join(err, fmt.Errorf("patch status: %w", patchErr))
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: r.LagRefreshInterval}, nil
}

// reconcileFinalizer keeps the consumer-group finalizer exactly while the
// Consumer asks for its group to be deleted with it.
func (r *ConsumerReconciler) reconcileFinalizer(ctx context.Context, c *eventpipev1alpha1.Consumer) error {
	changed := false
	if c.Spec.DeleteConsumerGroup {
		changed = controllerutil.AddFinalizer(c, eventpipev1alpha1.FinalizerConsumerGroup)
	} else {
		changed = controllerutil.RemoveFinalizer(c, eventpipev1alpha1.FinalizerConsumerGroup)
	}
	if !changed {
		return nil
	}
	if err := r.Update(ctx, c); err != nil {
		return fmt.Errorf("update finalizers: %w", err)
	}
	return nil
}

// reconcileWorkers renders the workers' objects once every stream is Ready
// and the processor accepts its settings. It returns the input topic, or ""
// while the streams are not all Ready.
func (r *ConsumerReconciler) reconcileWorkers(ctx context.Context, c *eventpipev1alpha1.Consumer) (string, error) {
	topics, ready, err := r.resolveStreams(ctx, c)
	if err != nil || !ready {
		return "", err
	}

	if err := r.validateSettings(c); err != nil {
		return topics.input, reconcile.TerminalError(err)
	}

	autoscaled, err := r.autoscaled(ctx, c)
	if err != nil {
		return topics.input, err
	}
	var replicas *int32
	if !autoscaled {
		replicas = c.Spec.Replicas
	}

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: c.Name}}
	hash, err := renderConfigMap(cm, c, workerConfig(c, topics))
	if err != nil {
		return topics.input, err
	}
	deploy := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: c.Name}}
	settings := workerSettings{image: r.WorkerImage, kafka: r.WorkerKafka, kafkaSecret: r.WorkerKafkaSecret}
	renderDeployment(deploy, c, settings, hash, replicas)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: c.Name + "-metrics"}}
	renderService(svc, c)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: c.Name}}
	renderPDB(pdb, c)

	for _, obj := range []client.Object{cm, deploy, svc, pdb} {
		if err := applyOwned(ctx, r.Client, c, obj); err != nil {
			return topics.input, err
		}
	}

	r.recordWorkers(c, deploy)
	return topics.input, nil
}

// autoscaled reports whether an AutoscalePolicy targets the Consumer, in which
// case the HorizontalPodAutoscaler owns the replica count.
func (r *ConsumerReconciler) autoscaled(ctx context.Context, c *eventpipev1alpha1.Consumer) (bool, error) {
	var policies eventpipev1alpha1.AutoscalePolicyList
	if err := r.List(ctx, &policies, client.InNamespace(c.Namespace),
		client.MatchingFields{policyTargetIndex: c.Name}); err != nil {
		return false, fmt.Errorf("list AutoscalePolicies: %w", err)
	}
	return len(policies.Items) > 0, nil
}

// reconcileDelete deletes the consumer group when the Consumer asks for it,
// once its workers have left the group. Owned objects go by garbage collection.
func (r *ConsumerReconciler) reconcileDelete(ctx context.Context, c *eventpipev1alpha1.Consumer) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(c, eventpipev1alpha1.FinalizerConsumerGroup) {
		return ctrl.Result{}, nil
	}

	// The workers must stop before their group can go: garbage collection
	// would remove the Deployment only after the Consumer itself is gone.
	deploy := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: c.Name}}
	if err := r.Delete(ctx, deploy, client.PropagationPolicy(metav1.DeletePropagationForeground)); err != nil &&
		!apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("delete worker Deployment: %w", err)
	}

	group := c.EffectiveConsumerGroup()
	conn, err := r.Kafka.Get()
	if err == nil {
		err = conn.DeleteConsumerGroup(group)
		if err != nil && kafka.IsUnreachable(err) {
			r.Kafka.Discard(conn)
		}
	}
	switch {
	case errors.Is(err, sarama.ErrNonEmptyGroup):
		log.FromContext(ctx).V(1).Info("Waiting for workers to leave the consumer group", "group", group)
		return ctrl.Result{RequeueAfter: groupLeaveDelay}, nil
	case err != nil && !errors.Is(err, sarama.ErrGroupIDNotFound):
		return ctrl.Result{}, fmt.Errorf("delete consumer group %s at %s: %w", group, r.Kafka.Brokers(), err)
	}
	r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, eventpipev1alpha1.ReasonConsumerGroupDeleted, "Delete",
		"Deleted consumer group %s", group)
	log.FromContext(ctx).Info("Deleted consumer group", "group", group)

	controllerutil.RemoveFinalizer(c, eventpipev1alpha1.FinalizerConsumerGroup)
	if err := r.Update(ctx, c); err != nil {
		return ctrl.Result{}, fmt.Errorf("remove finalizer: %w", err)
	}
	return ctrl.Result{}, nil
}

// SetupWithManager registers the reconciler, its indexes and its watches.
func (r *ConsumerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.LagRefreshInterval <= 0 {
		r.LagRefreshInterval = DefaultLagRefreshInterval
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&eventpipev1alpha1.Consumer{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Service{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Watches(&eventpipev1alpha1.EventStream{}, handler.EnqueueRequestsFromMapFunc(r.consumersOfStream)).
		Watches(&eventpipev1alpha1.AutoscalePolicy{}, handler.EnqueueRequestsFromMapFunc(
			func(_ context.Context, o client.Object) []reconcile.Request {
				p := o.(*eventpipev1alpha1.AutoscalePolicy)
				return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: p.Namespace, Name: p.Spec.Target}}}
			})).
		WithOptions(controller.Options{
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](
				retryBaseDelay, retryMaxDelay),
		}).
		Named("consumer").
		Complete(r)
}

// consumersOfStream maps an EventStream to the Consumers that name it, so a
// Consumer waiting for its streams goes on as soon as they are Ready.
func (r *ConsumerReconciler) consumersOfStream(ctx context.Context, o client.Object) []reconcile.Request {
	return requestsByIndex(ctx, r.Client, &eventpipev1alpha1.ConsumerList{}, o.GetNamespace(), streamRefIndex,
		o.GetName())
}
