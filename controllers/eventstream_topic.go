package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/IBM/sarama"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/controllers/topic"
	"github.com/eventpipe/eventpipe/internal/kafka"
)

// topicSettleDelay is how soon a stream is looked at again when Kafka has not
// finished an earlier change, such as deleting a topic of the same name.
const topicSettleDelay = 2 * time.Second

// reconcileTopic creates, adopts or updates the topic of stream and records in
// its status what Kafka has.
func (r *EventStreamReconciler) reconcileTopic(
	ctx context.Context,
	stream *eventpipev1alpha1.EventStream,
) (ctrl.Result, error) {
	desired, err := topic.FromSpec(stream)
	if err != nil {
		return r.refuse(stream, eventpipev1alpha1.ReasonInvalidConfig, sentence(err.Error()), err)
	}

	if other, err := r.conflictingStream(ctx, stream, desired.Name); err != nil {
		return ctrl.Result{}, err
	} else if other != nil {
		msg := fmt.Sprintf("EventStream %s/%s already manages topic %s. Give this stream another "+
			"spec.topicName, or delete the other stream.", other.Namespace, other.Name, desired.Name)
		return r.refuse(stream, eventpipev1alpha1.ReasonTopicConflict, msg, errors.New(msg))
	}

	admin, err := r.Kafka.Get()
	if err != nil {
		return r.kafkaFailed(stream, nil, "connect to Kafka", err)
	}
	actual, exists, err := describeTopic(admin, desired.Name)
	if err != nil {
		return r.kafkaFailed(stream, admin, "describe topic "+desired.Name, err)
	}

	claimed := stream.Status.TopicName == desired.Name
	switch {
	case !exists:
		return r.createTopic(ctx, stream, admin, desired)
	case !claimed && stream.Annotations[eventpipev1alpha1.AnnotationAdopt] != "true":
		msg := fmt.Sprintf("Topic %s already exists in Kafka and was not created by eventpipe. "+
			"Annotate the EventStream with %s: \"true\" to manage it.", desired.Name, eventpipev1alpha1.AnnotationAdopt)
		return r.refuse(stream, eventpipev1alpha1.ReasonTopicConflict, msg, errors.New(msg))
	case !claimed:
		if err := r.claimTopic(ctx, stream, desired.Name); err != nil {
			return ctrl.Result{}, err
		}
		r.Recorder.Eventf(stream, nil, corev1.EventTypeNormal, eventpipev1alpha1.ReasonTopicAdopted,
			"Adopt", "Adopted existing topic %s", desired.Name)
		log.FromContext(ctx).Info("Adopted topic", "topic", desired.Name)
	}

	return r.syncTopic(ctx, stream, admin, desired, actual)
}

// syncTopic compares an existing topic with the spec and applies the
// difference, or reports it, as the drift policy says.
func (r *EventStreamReconciler) syncTopic(
	ctx context.Context,
	stream *eventpipev1alpha1.EventStream,
	admin sarama.ClusterAdmin,
	desired topic.Desired,
	actual topic.Actual,
) (ctrl.Result, error) {
	plan := topic.Compare(desired, actual)
	if plan.Refusal != nil {
		r.recordActual(stream, desired.Name, actual, nil)
		return r.refuse(stream, plan.Refusal.Reason, plan.Refusal.Message, errors.New(plan.Refusal.Message))
	}

	specChanged := stream.Generation != stream.Status.ObservedGeneration
	drifted := plan.ConfigKeys()
	if len(drifted) > 0 && !specChanged && stream.Spec.DriftPolicy == eventpipev1alpha1.DriftPolicyReport {
		r.recordActual(stream, desired.Name, actual, drifted)
		r.markDrifted(stream, drifted)
		r.markReady(stream, fmt.Sprintf("Topic %s is ready; its config differs from the spec (drift policy Report).",
			desired.Name))
		return ctrl.Result{RequeueAfter: r.ResyncInterval}, nil
	}

	if !plan.Empty() {
		if err := applyPlan(admin, desired.Name, plan); err != nil {
			return r.kafkaFailed(stream, admin, "update topic "+desired.Name, err)
		}
		r.announceChange(ctx, stream, desired.Name, plan, specChanged)
		var err error
		if actual, _, err = describeTopic(admin, desired.Name); err != nil {
			return r.kafkaFailed(stream, admin, "describe topic "+desired.Name, err)
		}
	}

	return r.inSync(stream, desired.Name, actual), nil
}

// announceChange says in an event and the log what an applied plan changed.
func (r *EventStreamReconciler) announceChange(
	ctx context.Context,
	stream *eventpipev1alpha1.EventStream,
	name string,
	plan topic.Plan,
	specChanged bool,
) {
	var changes []string
	if plan.Partitions > 0 {
		changes = append(changes, fmt.Sprintf("partitions to %d", plan.Partitions))
	}
	if keys := plan.ConfigKeys(); len(keys) > 0 {
		changes = append(changes, "configs "+strings.Join(keys, ", "))
	}
	reason, note := eventpipev1alpha1.ReasonTopicUpdated, "Updated topic %s: %s"
	if !specChanged {
		reason, note = eventpipev1alpha1.ReasonDriftReverted, "Reverted changes made outside eventpipe to topic %s: %s"
	}
	r.Recorder.Eventf(stream, nil, corev1.EventTypeNormal, reason, "Update", note, name, strings.Join(changes, "; "))
	log.FromContext(ctx).Info("Updated topic", "topic", name, "reason", reason, "changes", changes)
}

// createTopic claims the topic in the status, then creates it.
func (r *EventStreamReconciler) createTopic(
	ctx context.Context,
	stream *eventpipev1alpha1.EventStream,
	admin sarama.ClusterAdmin,
	desired topic.Desired,
) (ctrl.Result, error) {
	// The claim comes first: if the operator stops between the two steps, the
	// topic it finds next time is known to be its own.
	if stream.Status.TopicName != desired.Name {
		if err := r.claimTopic(ctx, stream, desired.Name); err != nil {
			return ctrl.Result{}, err
		}
	}

	detail := &sarama.TopicDetail{
		NumPartitions:     desired.Partitions,
		ReplicationFactor: -1,
		ConfigEntries:     make(map[string]*string, len(desired.Config)),
	}
	if desired.ReplicationFactor > 0 {
		detail.ReplicationFactor = int16(desired.ReplicationFactor)
	}
	for k, v := range desired.Config {
		detail.ConfigEntries[k] = &v
	}
	err := r.Topics.Create(ctx, desired.Name, detail)
	if errors.Is(err, sarama.ErrTopicAlreadyExists) {
		// Kafka may still be deleting a topic of this name; look again shortly.
		r.markNotReady(stream, eventpipev1alpha1.ReasonKafkaError,
			fmt.Sprintf("Kafka reports topic %s as existing but does not describe it yet; waiting.", desired.Name))
		return ctrl.Result{RequeueAfter: topicSettleDelay}, nil
	}
	if err != nil {
		return r.kafkaFailed(stream, admin, "create topic "+desired.Name, err)
	}
	r.Recorder.Eventf(stream, nil, corev1.EventTypeNormal, eventpipev1alpha1.ReasonTopicCreated, "Create",
		"Created topic %s with %d partitions", desired.Name, desired.Partitions)
	log.FromContext(ctx).Info("Created topic", "topic", desired.Name, "partitions", desired.Partitions)

	actual, exists, err := describeTopic(admin, desired.Name)
	if err != nil {
		return r.kafkaFailed(stream, admin, "describe topic "+desired.Name, err)
	}
	if !exists {
		r.markNotReady(stream, eventpipev1alpha1.ReasonTopicCreated,
			fmt.Sprintf("Created topic %s; waiting for Kafka to report it.", desired.Name))
		return ctrl.Result{RequeueAfter: topicSettleDelay}, nil
	}
	return r.inSync(stream, desired.Name, actual), nil
}

// inSync records a topic that matches the spec and schedules the next drift check.
func (r *EventStreamReconciler) inSync(
	stream *eventpipev1alpha1.EventStream,
	name string,
	actual topic.Actual,
) ctrl.Result {
	r.recordActual(stream, name, actual, nil)
	r.markInSync(stream)
	r.markReady(stream, fmt.Sprintf("Topic %s has %d partitions and the configs of the spec.",
		name, actual.Partitions))
	return ctrl.Result{RequeueAfter: r.ResyncInterval}
}

// claimTopic records at once, before anything is done in Kafka, that stream
// manages the topic.
func (r *EventStreamReconciler) claimTopic(
	ctx context.Context,
	stream *eventpipev1alpha1.EventStream,
	name string,
) error {
	base := stream.DeepCopy()
	stream.Status.TopicName = name
	if err := r.Status().Patch(ctx, stream, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("claim topic %s in status: %w", name, err)
	}
	return nil
}

// deleteTopic deletes the topic of a stream that is going away. While Kafka
// cannot be reached the finalizer stays, and the status says how to let go.
func (r *EventStreamReconciler) deleteTopic(
	ctx context.Context,
	stream *eventpipev1alpha1.EventStream,
	name string,
) error {
	admin, err := r.Kafka.Get()
	if err == nil {
		err = admin.DeleteTopic(name)
		if err != nil && kafka.IsUnreachable(err) {
			r.Kafka.Discard(admin)
		}
	}
	if err != nil && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		base := stream.DeepCopy()
		reason := eventpipev1alpha1.ReasonKafkaError
		if kafka.IsUnreachable(err) {
			reason = eventpipev1alpha1.ReasonKafkaUnreachable
		}
		r.markNotReady(stream, reason, fmt.Sprintf("Cannot delete topic %s: %s. The EventStream is kept until "+
			"the topic is deleted; annotate it with %s: \"true\" to keep the topic and let it go.",
			name, r.kafkaProblem(reason), eventpipev1alpha1.AnnotationOrphan))
		if patchErr := r.Status().Patch(ctx, stream, client.MergeFrom(base)); patchErr != nil {
			return errors.Join(err, patchErr)
		}
		return fmt.Errorf("delete topic %s: %w", name, err)
	}
	r.Recorder.Eventf(stream, nil, corev1.EventTypeNormal, eventpipev1alpha1.ReasonTopicDeleted, "Delete",
		"Deleted topic %s", name)
	log.FromContext(ctx).Info("Deleted topic", "topic", name)
	return nil
}

// conflictingStream returns the stream that manages name when it is not stream.
func (r *EventStreamReconciler) conflictingStream(
	ctx context.Context,
	stream *eventpipev1alpha1.EventStream,
	name string,
) (*eventpipev1alpha1.EventStream, error) {
	var list eventpipev1alpha1.EventStreamList
	if err := r.List(ctx, &list, client.MatchingFields{topicIndex: name}); err != nil {
		return nil, fmt.Errorf("list EventStreams of topic %s: %w", name, err)
	}
	owner := topic.Owner(list.Items, name)
	if owner == nil || owner.UID == stream.UID {
		return nil, nil
	}
	return owner, nil
}

// refuse records a spec that cannot succeed until someone edits it: Ready
// False with reason, a Warning event when the reason is new, and a terminal
// error so the request is not retried.
func (r *EventStreamReconciler) refuse(
	stream *eventpipev1alpha1.EventStream,
	reason, message string,
	err error,
) (ctrl.Result, error) {
	if r.markNotReady(stream, reason, message) {
		r.Recorder.Eventf(stream, nil, corev1.EventTypeWarning, reason, "Reconcile", message)
	}
	return ctrl.Result{}, reconcile.TerminalError(err)
}

// kafkaFailed records a failed Kafka request. An unreachable cluster and a
// refused config each get their own reason; the request is retried with
// backoff unless the spec itself was refused.
func (r *EventStreamReconciler) kafkaFailed(
	stream *eventpipev1alpha1.EventStream,
	admin sarama.ClusterAdmin,
	action string,
	err error,
) (ctrl.Result, error) {
	switch {
	case kafka.IsUnreachable(err):
		if admin != nil {
			r.Kafka.Discard(admin)
		}
		msg := fmt.Sprintf("Cannot %s: %s. Retrying with backoff.", action,
			r.kafkaProblem(eventpipev1alpha1.ReasonKafkaUnreachable))
		if r.markNotReady(stream, eventpipev1alpha1.ReasonKafkaUnreachable, msg) {
			r.Recorder.Eventf(stream, nil, corev1.EventTypeWarning, eventpipev1alpha1.ReasonKafkaUnreachable,
				"Reconcile", msg)
		}
		return ctrl.Result{}, fmt.Errorf("%s at %s: %w", action, r.Kafka.Brokers(), err)
	case isConfigRefusal(err):
		msg := fmt.Sprintf("Kafka refused to %s: %s. Fix spec.config or spec.retention.", action, kafkaMessage(err))
		return r.refuse(stream, eventpipev1alpha1.ReasonInvalidConfig, msg, fmt.Errorf("%s: %w", action, err))
	default:
		msg := fmt.Sprintf("Kafka failed to %s: %s. Retrying with backoff.", action, kafkaMessage(err))
		if r.markNotReady(stream, eventpipev1alpha1.ReasonKafkaError, msg) {
			r.Recorder.Eventf(stream, nil, corev1.EventTypeWarning, eventpipev1alpha1.ReasonKafkaError,
				"Reconcile", msg)
		}
		return ctrl.Result{}, fmt.Errorf("%s: %w", action, err)
	}
}

// kafkaProblem describes, for a condition message, what is wrong with Kafka.
func (r *EventStreamReconciler) kafkaProblem(reason string) string {
	if reason == eventpipev1alpha1.ReasonKafkaUnreachable {
		return "the Kafka brokers at " + r.Kafka.Brokers() + " cannot be reached"
	}
	return "Kafka answered with an error"
}

// recordActual copies what Kafka has into the status.
func (r *EventStreamReconciler) recordActual(
	stream *eventpipev1alpha1.EventStream,
	name string,
	actual topic.Actual,
	drifted []string,
) {
	now := metav1.Now()
	stream.Status.TopicName = name
	stream.Status.Partitions = actual.Partitions
	stream.Status.ReplicationFactor = actual.ReplicationFactor
	stream.Status.Config = actual.Overrides
	stream.Status.DriftedKeys = drifted
	stream.Status.LastSyncTime = &now
}

// describeTopic reads a topic's partitions, replication factor and managed
// configs. exists is false when Kafka does not know the topic.
func describeTopic(admin sarama.ClusterAdmin, name string) (actual topic.Actual, exists bool, err error) {
	metadata, err := admin.DescribeTopics([]string{name})
	if err != nil {
		return topic.Actual{}, false, err
	}
	if len(metadata) != 1 {
		return topic.Actual{}, false, fmt.Errorf("describe topic %s: %d topics in answer", name, len(metadata))
	}
	md := metadata[0]
	if errors.Is(md.Err, sarama.ErrUnknownTopicOrPartition) {
		return topic.Actual{}, false, nil
	}
	if !errors.Is(md.Err, sarama.ErrNoError) {
		return topic.Actual{}, false, md.Err
	}
	actual.Partitions = int32(len(md.Partitions))
	for _, p := range md.Partitions {
		if p.ID == 0 {
			actual.ReplicationFactor = int32(len(p.Replicas))
		}
	}

	results, err := admin.DescribeConfigs([]*sarama.ConfigResource{{
		Type:        sarama.TopicResource,
		Name:        name,
		ConfigNames: topic.ManagedKeys(),
	}}, sarama.DescribeConfigsOptions{})
	if err != nil {
		return topic.Actual{}, false, err
	}
	actual.Values = map[string]string{}
	actual.Overrides = map[string]string{}
	for _, result := range results {
		if errors.Is(result.ErrorCode, sarama.ErrUnknownTopicOrPartition) {
			return topic.Actual{}, false, nil
		}
		if !errors.Is(result.ErrorCode, sarama.ErrNoError) {
			return topic.Actual{}, false, &sarama.DescribeConfigError{Err: result.ErrorCode, ErrMsg: result.ErrorMsg}
		}
		for _, e := range result.Configs {
			actual.Values[e.Name] = e.Value
			if e.Source == sarama.SourceTopic {
				actual.Overrides[e.Name] = e.Value
			}
		}
	}
	return actual, true, nil
}

// applyPlan grows partitions and sets or removes configs.
func applyPlan(admin sarama.ClusterAdmin, name string, plan topic.Plan) error {
	if plan.Partitions > 0 {
		if err := admin.CreatePartitions(name, plan.Partitions, nil, false); err != nil {
			return err
		}
	}
	if len(plan.Set) == 0 && len(plan.Delete) == 0 {
		return nil
	}
	entries := make(map[string]sarama.IncrementalAlterConfigsEntry, len(plan.Set)+len(plan.Delete))
	for k, v := range plan.Set {
		entries[k] = sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &v}
	}
	for _, k := range plan.Delete {
		entries[k] = sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationDelete}
	}
	return admin.IncrementalAlterConfig(sarama.TopicResource, name, entries, false)
}

// isConfigRefusal reports whether Kafka refused a request because of what the
// spec asks for, which retrying cannot fix.
func isConfigRefusal(err error) bool {
	return errors.Is(err, sarama.ErrInvalidConfig) ||
		errors.Is(err, sarama.ErrPolicyViolation) ||
		errors.Is(err, sarama.ErrInvalidReplicationFactor) ||
		errors.Is(err, sarama.ErrInvalidPartitions) ||
		errors.Is(err, sarama.ErrInvalidTopic)
}

// kafkaMessage is the text of Kafka's own answer, without sarama's prefixes.
func kafkaMessage(err error) string {
	var topicErr *sarama.TopicError
	if errors.As(err, &topicErr) && topicErr.ErrMsg != nil && *topicErr.ErrMsg != "" {
		return *topicErr.ErrMsg
	}
	var partitionErr *sarama.TopicPartitionError
	if errors.As(err, &partitionErr) && partitionErr.ErrMsg != nil && *partitionErr.ErrMsg != "" {
		return *partitionErr.ErrMsg
	}
	return err.Error()
}

// sentence makes an error text into a condition message.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
