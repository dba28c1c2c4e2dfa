//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"

	"github.com/eventpipe/eventpipe/workers/runtime"
)

const (
	scorer           = "authorization-scorer"
	scorerManifest   = "test/e2e/testdata/authorization-scorer.yaml"
	typeAuthorized   = "com.example.card.authorization.requested"
	typeSlowScoring  = "com.example.card.authorization.slow"
	scorerPartitions = 3
	// burstPerPartition authorizations wait behind one slow one on each
	// partition: lag 93 at 20 per replica wants all three partitions' worth.
	burstPerPartition = 30
)

// lagSpike produces a burst behind slow events on every partition of the
// scorer's input and sees the policy take the workers from one to three and,
// once the lag is worked off, back to one; every event comes out once at
// least (rebalances may repeat some, as at-least-once allows).
func lagSpike(ns string) {
	applyFiles(ns, scorerManifest)
	for _, name := range []string{"card-authorizations", "authorizations-scored", "authorizations-dlq"} {
		expectReady(&eventStream{}, types.NamespacedName{Namespace: ns, Name: name})
	}
	expectReady(&consumer{}, types.NamespacedName{Namespace: ns, Name: scorer})
	expectReady(&autoscalePolicy{}, types.NamespacedName{Namespace: ns, Name: scorer})
	expectMembers(ns, workerSelector(scorer), 1)

	By("producing a burst behind one slow authorization per partition")
	input := topicOf(ns, "card-authorizations")
	var slow, normal []cloudevents.Event
	for p := int32(0); p < scorerPartitions; p++ {
		s := authorizationEvents(typeSlowScoring, p, 1)
		n := authorizationEvents(typeAuthorized, p, burstPerPartition)
		produceToPartition(input, p, append(append([]cloudevents.Event(nil), s...), n...))
		slow, normal = append(slow, s...), append(normal, n...)
	}

	By("seeing the lag raise the floor and the workers to three")
	expectFloor(ns, scorer, scorerPartitions)
	expectHPAFloor(ns, scorer, scorerPartitions)
	expectRunning(ns, scorer, scorerPartitions)

	By("seeing the workers fall back to one once the lag is worked off")
	expectFloor(ns, scorer, 1)
	expectMembers(ns, workerSelector(scorer), 1)

	By("reading every authorization from the output and the slow ones from the dead letters")
	expectAtLeastOnce(topicOf(ns, "authorizations-scored"), normal, "")
	expectAtLeastOnce(topicOf(ns, "authorizations-dlq"), slow, string(runtime.ReasonRetriesExhausted))
}

// expectRunning waits until n processes (or pods) run for a Consumer, ready
// or not: a worker joining while others rebalance need not be ready yet.
func expectRunning(ns, consumerName string, n int) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		members, err := env.workloads.members(context.Background(), ns, workerSelector(consumerName))
		g.Expect(err).NotTo(HaveOccurred())
		running, _ := counts(members)
		g.Expect(running).To(Equal(n), "running workers of %s: %+v", consumerName, members)
	}).WithTimeout(scaleTimeout).WithPolling(poll).Should(Succeed())
}

// expectAtLeastOnce waits until a topic holds each wanted event at least once
// and nothing else; reason, when set, is the dead-letter reason of each.
func expectAtLeastOnce(topic string, want []cloudevents.Event, reason string) {
	GinkgoHelper()
	wantByID := byID(want)
	Eventually(func(g Gomega) {
		msgs, err := readTopic(topic)
		g.Expect(err).NotTo(HaveOccurred())
		seen := map[string]bool{}
		for _, m := range msgs {
			got, err := toEvent(m)
			g.Expect(err).NotTo(HaveOccurred())
			w, ok := wantByID[got.ID()]
			g.Expect(ok).To(BeTrue(), "unexpected event %s in %s", got.ID(), topic)
			expectSameEvent(g, got, w)
			if reason != "" {
				g.Expect(header(m, runtime.HeaderDLQReason)).To(Equal(reason))
			}
			seen[got.ID()] = true
		}
		g.Expect(seen).To(HaveLen(len(want)), "distinct events in %s", topic)
	}).WithTimeout(deliveryTimeout).WithPolling(time.Second).Should(Succeed())
}

// authorizationEvents returns n card authorization requests for one partition.
func authorizationEvents(eventType string, partition int32, n int) []cloudevents.Event {
	events := make([]cloudevents.Event, 0, n)
	for i := 1; i <= n; i++ {
		auth := fmt.Sprintf("auth_%s_%d_%04d", env.runID, partition, i)
		e := cloudevents.NewEvent()
		e.SetID(auth)
		e.SetSource("//cards.example.com/issuer-processor")
		e.SetType(eventType)
		e.SetSubject(auth)
		e.SetTime(time.Now().UTC())
		Expect(e.SetData(cloudevents.ApplicationJSON, map[string]any{
			"authorizationId": auth,
			"card":            map[string]any{"token": fmt.Sprintf("tok_%08d", i*7919), "network": "mastercard"},
			"amount": map[string]any{
				"value": fmt.Sprintf("%d.%02d", 3+i*11%250, i*29%100), "currency": "EUR",
			},
			"merchant": map[string]any{"categoryCode": merchants[i%len(merchants)].category},
			"channel":  []string{"pos", "ecommerce", "contactless"}[i%3],
		})).To(Succeed())
		events = append(events, e)
	}
	return events
}

// produceToPartition writes CloudEvents in binary mode to one partition, in order.
func produceToPartition(topic string, partition int32, events []cloudevents.Event) {
	sc, err := env.kafkaConfig.Sarama()
	Expect(err).NotTo(HaveOccurred())
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer(env.kafkaConfig.BootstrapServers, sc)
	Expect(err).NotTo(HaveOccurred())
	defer func() { Expect(p.Close()).To(Succeed()) }()
	ctx := binding.WithForceBinary(context.Background())
	for i := range events {
		e := events[i]
		msg := &sarama.ProducerMessage{
			Topic: topic, Partition: partition, Key: sarama.StringEncoder(e.Subject()),
		}
		Expect(kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(&e), msg)).To(Succeed())
		_, _, err := p.SendMessage(msg)
		Expect(err).NotTo(HaveOccurred(), "produce event %s to %s/%d", e.ID(), topic, partition)
	}
}
