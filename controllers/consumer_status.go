package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/IBM/sarama"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/controllers/conditions"
	"github.com/eventpipe/eventpipe/controllers/lag"
	"github.com/eventpipe/eventpipe/internal/kafka"
	"github.com/eventpipe/eventpipe/workers/processor"
)

// resolveStreams finds the topics of every stream the Consumer names. ready is
// false, with StreamsReady saying which stream is missing or not Ready, until
// all of them are.
func (r *ConsumerReconciler) resolveStreams(
	ctx context.Context,
	c *eventpipev1alpha1.Consumer,
) (topics consumerTopics, ready bool, err error) {
	var missing, notReady []string
	topicOf := map[string]string{}
	for _, name := range streamRefs(c) {
		s := &eventpipev1alpha1.EventStream{}
		err := r.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, s)
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, name)
		case err != nil:
			return consumerTopics{}, false, fmt.Errorf("get EventStream %s: %w", name, err)
		case !conditions.IsTrue(s.Status.Conditions, eventpipev1alpha1.ConditionReady):
			notReady = append(notReady, name)
		default:
			topicOf[name] = s.Status.TopicName
		}
	}

	gen := c.Generation
	switch {
	case len(missing) > 0:
		msg := fmt.Sprintf("Waiting for EventStream %s: it does not exist in namespace %s. "+
			"No workers are rendered until every stream exists.", strings.Join(missing, ", "), c.Namespace)
		conditions.Set(&c.Status.Conditions, gen, eventpipev1alpha1.ConditionStreamsReady,
			metav1.ConditionFalse, eventpipev1alpha1.ReasonStreamNotFound, msg)
		return consumerTopics{}, false, nil
	case len(notReady) > 0:
		msg := fmt.Sprintf("Waiting for EventStream %s to become Ready.", strings.Join(notReady, ", "))
		conditions.Set(&c.Status.Conditions, gen, eventpipev1alpha1.ConditionStreamsReady,
			metav1.ConditionFalse, eventpipev1alpha1.ReasonStreamNotReady, msg)
		return consumerTopics{}, false, nil
	}
	conditions.Set(&c.Status.Conditions, gen, eventpipev1alpha1.ConditionStreamsReady,
		metav1.ConditionTrue, eventpipev1alpha1.ReasonStreamsReady, "Every stream the Consumer names is Ready.")

	topics = consumerTopics{input: topicOf[c.Spec.Stream]}
	if len(c.Spec.Outputs) > 0 {
		topics.outputs = make(map[string]string, len(c.Spec.Outputs))
		for out, stream := range c.Spec.Outputs {
			topics.outputs[out] = topicOf[stream]
		}
	}
	if dlq := c.Spec.Delivery.DeadLetterStream; dlq != "" {
		topics.deadLetter = topicOf[dlq]
	}
	return topics, true, nil
}

// validateSettings asks the processor whether it accepts its settings and
// outputs. A refusal is a spec a person must edit: SettingsValid False, a
// Warning event, and an error the caller makes terminal.
func (r *ConsumerReconciler) validateSettings(c *eventpipev1alpha1.Consumer) error {
	var settings []byte
	if c.Spec.Settings != nil {
		settings = c.Spec.Settings.Raw
	}
	err := processor.ValidateSettings(string(c.Spec.Processor), settings)
	if err == nil {
		err = validateOutputs(c)
	}
	if err != nil {
		msg := fmt.Sprintf("Processor %s refused its configuration: %s. Edit the Consumer's spec.",
			c.Spec.Processor, err)
		if conditions.Set(&c.Status.Conditions, c.Generation, eventpipev1alpha1.ConditionSettingsValid,
			metav1.ConditionFalse, eventpipev1alpha1.ReasonInvalidSettings, msg) {
			r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, eventpipev1alpha1.ReasonInvalidSettings,
				"Validate", msg)
		}
		return fmt.Errorf("validate settings of processor %s: %w", c.Spec.Processor, err)
	}
	conditions.Set(&c.Status.Conditions, c.Generation, eventpipev1alpha1.ConditionSettingsValid,
		metav1.ConditionTrue, eventpipev1alpha1.ReasonSettingsValid, "The processor accepts its settings.")
	return nil
}

// validateOutputs refuses output names the processor never emits to.
func validateOutputs(c *eventpipev1alpha1.Consumer) error {
	def, ok := processor.Lookup(string(c.Spec.Processor))
	if !ok || len(def.Outputs) == 0 {
		return nil
	}
	var unknown []string
	for name := range c.Spec.Outputs {
		if !slices.Contains(def.Outputs, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("output %s is not one of %s", strings.Join(unknown, ", "), strings.Join(def.Outputs, ", "))
}

// recordWorkers copies the Deployment's replica counts into the status.
func (r *ConsumerReconciler) recordWorkers(c *eventpipev1alpha1.Consumer, d *appsv1.Deployment) {
	c.Status.Replicas = d.Status.Replicas
	c.Status.ReadyReplicas = d.Status.ReadyReplicas
	desired := int32(1)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}

	status, reason := metav1.ConditionFalse, eventpipev1alpha1.ReasonWorkersProgressing
	msg := fmt.Sprintf("%d of %d worker pods are ready.", d.Status.ReadyReplicas, desired)
	switch {
	case desired == 0:
		status, reason, msg = metav1.ConditionTrue, eventpipev1alpha1.ReasonScaledToZero,
			"The Consumer is scaled to zero workers."
	case d.Status.ReadyReplicas >= desired && d.Status.ObservedGeneration >= d.Generation:
		status, reason = metav1.ConditionTrue, eventpipev1alpha1.ReasonWorkersReady
	}
	conditions.Set(&c.Status.Conditions, c.Generation, eventpipev1alpha1.ConditionWorkersReady, status, reason, msg)
}

// refreshLag reads the consumer group's lag on topic, the input topic, when
// the last reading is older than the refresh interval; an empty topic (the
// streams are not Ready) reads nothing. A failure is reported in LagKnown and
// does not stop the workers from being reconciled.
func (r *ConsumerReconciler) refreshLag(ctx context.Context, c *eventpipev1alpha1.Consumer, topic string) {
	if topic == "" {
		return
	}
	if t := c.Status.LagTime; t != nil && metav1.Now().Sub(t.Time) < r.LagRefreshInterval &&
		conditions.IsTrue(c.Status.Conditions, eventpipev1alpha1.ConditionLagKnown) {
		return
	}

	l, err := r.readLag(c, topic)
	if err != nil {
		log.FromContext(ctx).Error(err, "Cannot read consumer group lag", "group", c.EffectiveConsumerGroup())
		reason, msg := eventpipev1alpha1.ReasonKafkaError, "Kafka answered the lag request with an error; retrying."
		if kafka.IsUnreachable(err) {
			reason = eventpipev1alpha1.ReasonKafkaUnreachable
			msg = fmt.Sprintf("Cannot read lag: the Kafka brokers at %s cannot be reached; retrying.", r.Kafka.Brokers())
		}
		conditions.Set(&c.Status.Conditions, c.Generation, eventpipev1alpha1.ConditionLagKnown,
			metav1.ConditionFalse, reason, msg)
		return
	}

	now := metav1.Now()
	c.Status.Lag, c.Status.MaxPartitionLag, c.Status.LagTime = l.Total, l.Max, &now
	c.Status.PartitionLag = c.Status.PartitionLag[:0]
	for _, p := range l.Sorted() {
		c.Status.PartitionLag = append(c.Status.PartitionLag,
			eventpipev1alpha1.PartitionLag{Partition: p, Lag: l.Partitions[p]})
	}
	conditions.Set(&c.Status.Conditions, c.Generation, eventpipev1alpha1.ConditionLagKnown,
		metav1.ConditionTrue, eventpipev1alpha1.ReasonLagRead,
		fmt.Sprintf("Consumer group %s is %d events behind.", c.EffectiveConsumerGroup(), l.Total))
}

// readLag reads the offsets of the group on topic from Kafka.
func (r *ConsumerReconciler) readLag(c *eventpipev1alpha1.Consumer, topic string) (lag.Lag, error) {
	conn, err := r.Kafka.Get()
	if err != nil {
		return lag.Lag{}, err
	}
	offsets, err := readOffsets(conn, c.EffectiveConsumerGroup(), topic)
	if err != nil {
		if kafka.IsUnreachable(err) {
			r.Kafka.Discard(conn)
		}
		return lag.Lag{}, err
	}
	return lag.Compute(offsets, c.Spec.InitialOffset != eventpipev1alpha1.InitialOffsetLatest), nil
}

// readOffsets reads, for every partition of topic, the log start and end and
// the group's committed offset.
func readOffsets(conn *KafkaConn, group, topic string) ([]lag.PartitionOffsets, error) {
	if err := conn.Client.RefreshMetadata(topic); err != nil {
		return nil, fmt.Errorf("refresh metadata of %s: %w", topic, err)
	}
	partitions, err := conn.Client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", topic, err)
	}
	committed, err := conn.ListConsumerGroupOffsets(group, map[string][]int32{topic: partitions})
	if err != nil {
		return nil, fmt.Errorf("list offsets of group %s: %w", group, err)
	}
	if !errors.Is(committed.Err, sarama.ErrNoError) {
		return nil, fmt.Errorf("list offsets of group %s: %w", group, committed.Err)
	}
	out := make([]lag.PartitionOffsets, 0, len(partitions))
	for _, p := range partitions {
		o := lag.PartitionOffsets{Partition: p, Committed: lag.NoOffset}
		if block := committed.GetBlock(topic, p); block != nil && errors.Is(block.Err, sarama.ErrNoError) {
			o.Committed = block.Offset
		}
		if o.LogEnd, err = conn.Client.GetOffset(topic, p, sarama.OffsetNewest); err != nil {
			return nil, fmt.Errorf("read end offset of %s/%d: %w", topic, p, err)
		}
		if o.LogStart, err = conn.Client.GetOffset(topic, p, sarama.OffsetOldest); err != nil {
			return nil, fmt.Errorf("read start offset of %s/%d: %w", topic, p, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// summarise recomputes Ready from the other conditions.
func (r *ConsumerReconciler) summarise(c *eventpipev1alpha1.Consumer) {
	for _, t := range []string{
		eventpipev1alpha1.ConditionStreamsReady,
		eventpipev1alpha1.ConditionSettingsValid,
		eventpipev1alpha1.ConditionWorkersReady,
	} {
		cond := meta.FindStatusCondition(c.Status.Conditions, t)
		if cond == nil {
			// A later step did not run: an earlier one is what blocks.
			continue
		}
		if cond.Status != metav1.ConditionTrue {
			conditions.Set(&c.Status.Conditions, c.Generation, eventpipev1alpha1.ConditionReady,
				metav1.ConditionFalse, cond.Reason, cond.Message)
			return
		}
	}
	if meta.FindStatusCondition(c.Status.Conditions, eventpipev1alpha1.ConditionWorkersReady) == nil {
		return
	}
	conditions.Set(&c.Status.Conditions, c.Generation, eventpipev1alpha1.ConditionReady,
		metav1.ConditionTrue, eventpipev1alpha1.ReasonConsumerReady,
		fmt.Sprintf("%d worker(s) consume stream %s with processor %s.",
			c.Status.ReadyReplicas, c.Spec.Stream, c.Spec.Processor))
}
