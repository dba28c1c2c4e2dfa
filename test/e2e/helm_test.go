//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/workers/runtime"
)

// The sample EventStreams of config/samples that the payment-router pipeline
// uses, and the pipeline's own manifests.
var (
	sampleStreams = []string{
		"config/samples/eventpipe_v1alpha1_eventstream.yaml",
		"config/samples/eventpipe_v1alpha1_eventstream_payment_decisions.yaml",
		"config/samples/eventpipe_v1alpha1_eventstream_payments_dlq.yaml",
		"config/samples/eventpipe_v1alpha1_eventstream_scale_commands.yaml",
	}
	sampleStreamNames = []string{"payments", "payment-decisions", "payments-dlq", "scale-commands"}
	sampleRulePack    = "config/samples/eventpipe_v1alpha1_rulepack.yaml"
	routerManifest    = "test/e2e/testdata/payment-router.yaml"
	autoscaleManifest = "test/e2e/testdata/payment-router-autoscale.yaml"
)

const router = "payment-router"

var _ = Describe("eventpipe installed with Helm", Ordered, func() {
	var ns string
	var manager member
	dumpOnFailure(func() string { return ns })

	BeforeAll(func() {
		ns = nsName("e2e-helm")
		DeferCleanup(func() {
			By("uninstalling the chart")
			_, err := run(env.helm, "uninstall", env.releaseName, "-n", env.releaseNS,
				"--ignore-not-found", "--wait")
			Expect(err).NotTo(HaveOccurred())
			expectManagerGone()
			deleteNamespace(env.releaseNS)
		})
		By("installing the chart into " + env.releaseNS)
		// Limitation: the admission webhooks stay off (the chart's default).
		// The API server would call them at the pod's IP, which leads nowhere on
		// the local control plane; envtest covers them.
		_, err := run(env.helm, "install", env.releaseName, "charts/eventpipe",
			"-n", env.releaseNS, "--create-namespace",
			"--set", "kafka.bootstrapServers="+env.clusterKafka,
			"--set", "image.repository="+managerRepository,
			"--set", "image.tag="+env.imageTag,
			"--set", "worker.image.repository="+workerRepository,
			"--set", "worker.image.tag="+env.imageTag,
			"--set", "controller.lagRefreshInterval=2s",
			"--set", "logFormat=console")
		Expect(err).NotTo(HaveOccurred())
		createNamespace(ns)
		// Registered after the uninstall, so it runs first, while the manager
		// still releases the finalizers.
		DeferCleanup(func() {
			By("deleting namespace " + ns)
			deleteNamespace(ns)
		})
	})

	It("should run the manager on its in-cluster credentials and the chart's RBAC", func() {
		manager = expectManager()
		expectLeader(manager.pod)
	})

	It("should serve metrics only to a caller the chart's metrics-reader role authorizes", func() {
		if env.realPods {
			Skip("on kind the manager's metrics port is reachable only through a port-forward; " +
				"the local run covers this")
		}
		addr := manager.addresses["metrics-bind-address"]
		Expect(addr).NotTo(BeEmpty(), "the manager has no rewritten metrics address")
		token := scraperToken(ns, fmt.Sprintf("%s-metrics-reader", env.releaseName))
		Eventually(func(g Gomega) {
			g.Expect(scrape(addr, "")).To(Equal(http.StatusUnauthorized))
			g.Expect(scrape(addr, token)).To(Equal(http.StatusOK))
		}).WithTimeout(readyTimeout).WithPolling(poll).Should(Succeed())
	})

	It("should make the sample EventStreams Ready with their topics in Kafka", func() {
		applyFiles(ns, sampleStreams...)
		for _, name := range sampleStreamNames {
			s := &eventStream{}
			expectReady(s, types.NamespacedName{Namespace: ns, Name: name})
			partitions, err := topicPartitions(s.Status.TopicName)
			Expect(err).NotTo(HaveOccurred())
			Expect(partitions).To(BeEquivalentTo(s.Spec.Partitions), "partitions of topic %s", s.Status.TopicName)
		}
	})

	It("should compile the sample RulePack and make it Ready", func() {
		applyFiles(ns, sampleRulePack)
		pack := &rulePack{}
		expectReady(pack, types.NamespacedName{Namespace: ns, Name: "fraud-rules"})
		Expect(pack.Status.RuleCount).To(BeEquivalentTo(len(pack.Spec.Rules)))
		Expect(pack.Status.Version).NotTo(BeEmpty())
	})

	It("should run one ready worker for the passthrough Consumer", func() {
		applyFiles(ns, routerManifest)
		for _, name := range []string{"payment-captures", "payment-refunds"} {
			expectReady(&eventStream{}, types.NamespacedName{Namespace: ns, Name: name})
		}
		expectReady(&consumer{}, types.NamespacedName{Namespace: ns, Name: router})
		expectMembers(ns, workerSelector(router), 1)
	})

	It("should route CloudEvents to the outputs and dead-letter what it cannot handle", func() {
		captured := paymentEvents(typeCaptured, 30)
		refunded := paymentEvents(typeRefunded, 10)
		disputed := paymentEvents(typeDisputed, 3)
		var all []cloudevents.Event
		all = append(all, paymentEvents(typeAttempted, 40)...)
		all = append(all, captured...)
		all = append(all, refunded...)
		all = append(all, disputed...)
		produceEvents(topicOf(ns, "payments"), all)
		produceRaw(topicOf(ns, "payments"), map[string]string{
			"legacy-1": `{"payment":"pay_legacy_1","status":"CAPTURED"}`,
			"legacy-2": "PAYMENT pay_legacy_2 CAPTURED 12.50 EUR",
		})

		By("reading the outputs: exactly the captures and the refunds, unchanged")
		expectOutput(topicOf(ns, "payment-captures"), captured)
		expectOutput(topicOf(ns, "payment-refunds"), refunded)

		By("reading the dead letters: the disputes and the messages that are no CloudEvents")
		dlq := topicOf(ns, "payments-dlq")
		expectCount(dlq, len(disputed)+2)
		msgs, err := readTopic(dlq)
		Expect(err).NotTo(HaveOccurred())
		reasons := map[string]int{}
		for _, m := range msgs {
			reasons[header(m, runtime.HeaderDLQReason)]++
			Expect(header(m, runtime.HeaderDLQConsumer)).To(Equal(ns + "/" + router))
			Expect(header(m, runtime.HeaderDLQTopic)).To(Equal(topicOf(ns, "payments")))
		}
		Expect(reasons).To(Equal(map[string]int{
			string(runtime.ReasonProcessorError): len(disputed),
			string(runtime.ReasonNotCloudEvent):  2,
		}))

		By("seeing the consumer group's lag fall to zero in the Consumer's status")
		Eventually(func(g Gomega) {
			c := &consumer{}
			g.Expect(env.k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: router},
				&c.Consumer)).To(Succeed())
			lagKnown := meta.FindStatusCondition(c.Status.Conditions, eventpipev1alpha1.ConditionLagKnown)
			g.Expect(lagKnown).NotTo(BeNil())
			g.Expect(lagKnown.Status).To(Equal(metav1.ConditionTrue), lagKnown.Message)
			g.Expect(c.Status.LagTime).NotTo(BeNil())
			g.Expect(c.Status.LagTime.Time).To(BeTemporally(">", time.Now().Add(-10*time.Second)))
			g.Expect(c.Status.Lag).To(BeZero())
		}).WithTimeout(deliveryTimeout).WithPolling(poll).Should(Succeed())
	})

	It("should scale workers out on a lag spike and back in once it is worked off", func() {
		lagSpike(ns)
	})

	It("should make the AutoscalePolicy Ready with an HPA holding one worker", func() {
		applyFiles(ns, autoscaleManifest)
		expectReady(&autoscalePolicy{}, types.NamespacedName{Namespace: ns, Name: router})
		expectHPAFloor(ns, router, 1)
		expectMembers(ns, workerSelector(router), 1)
	})

	It("should scale the workers up and down through the HPA on scale commands", func() {
		sendCommand(ns, 3, "e2e: checkout peak expected")
		expectFloor(ns, router, 3)
		expectHPAFloor(ns, router, 3)
		expectMembers(ns, workerSelector(router), 3)
		expectGroupMembers(ns, 3)

		sendCommand(ns, 1, "e2e: peak over")
		expectFloor(ns, router, 1)
		expectHPAFloor(ns, router, 1)
		expectMembers(ns, workerSelector(router), 1)
		expectGroupMembers(ns, 1)
	})

	It("should open the breaker on a flapping burst of commands and hold the floor", func() {
		// Two changes so far; maxChanges is 3, so the next change is let
		// through and the one after it opens the breaker.
		sendCommand(ns, 3, "e2e: flap up")
		expectFloor(ns, router, 3)
		sendCommand(ns, 1, "e2e: flap down")

		key := client.ObjectKey{Namespace: ns, Name: router}
		Eventually(func(g Gomega) {
			p := &eventpipev1alpha1.AutoscalePolicy{}
			g.Expect(env.k8s.Get(context.Background(), key, p)).To(Succeed())
			g.Expect(p.Status.Breaker.State).To(Equal(eventpipev1alpha1.BreakerOpen))
			g.Expect(p.Status.Breaker.Trip).To(Equal(eventpipev1alpha1.ReasonFlapping))
			open := meta.FindStatusCondition(p.Status.Conditions, eventpipev1alpha1.ConditionBreakerOpen)
			g.Expect(open).NotTo(BeNil())
			g.Expect(open.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(open.Reason).To(Equal(eventpipev1alpha1.ReasonFlapping))
			g.Expect(p.Status.Floor).To(BeEquivalentTo(3), "the breaker holds the last floor")
		}).WithTimeout(scaleTimeout).WithPolling(poll).Should(Succeed())

		expectHPAFloor(ns, router, 3)
		expectMembers(ns, workerSelector(router), 3)
		Consistently(func(g Gomega) {
			members, err := env.workloads.members(context.Background(), ns, workerSelector(router))
			g.Expect(err).NotTo(HaveOccurred())
			running, ready := counts(members)
			g.Expect(running).To(Equal(3), "running workers")
			g.Expect(ready).To(Equal(3), "ready workers")
		}).WithTimeout(quietPeriod).WithPolling(poll).Should(Succeed())
	})
})

// topicOf is the topic of an EventStream, as its status reports it.
func topicOf(namespace, stream string) string {
	GinkgoHelper()
	s := &eventpipev1alpha1.EventStream{}
	key := client.ObjectKey{Namespace: namespace, Name: stream}
	Expect(env.k8s.Get(context.Background(), key, s)).To(Succeed())
	Expect(s.Status.TopicName).NotTo(BeEmpty(), "EventStream %s has no topic yet", stream)
	return s.Status.TopicName
}

// expectCount waits until a topic holds exactly n messages, and checks that
// no more arrive.
func expectCount(topic string, n int) {
	GinkgoHelper()
	count := func(g Gomega) {
		msgs, err := readTopic(topic)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(msgs).To(HaveLen(n), "messages in %s", topic)
	}
	Eventually(count).WithTimeout(deliveryTimeout).WithPolling(poll).Should(Succeed())
	Consistently(count).WithTimeout(quietPeriod).WithPolling(time.Second).Should(Succeed())
}

// expectOutput checks that a topic holds exactly the given events, once
// each, unchanged.
func expectOutput(topic string, want []cloudevents.Event) {
	GinkgoHelper()
	expectCount(topic, len(want))
	msgs, err := readTopic(topic)
	Expect(err).NotTo(HaveOccurred())
	wantByID := byID(want)
	seen := map[string]bool{}
	for _, m := range msgs {
		got, err := toEvent(m)
		Expect(err).NotTo(HaveOccurred(), "output in %s is no CloudEvent", topic)
		w, ok := wantByID[got.ID()]
		Expect(ok).To(BeTrue(), "unexpected event %s in %s", got.ID(), topic)
		Expect(seen[got.ID()]).To(BeFalse(), "event %s twice in %s", got.ID(), topic)
		seen[got.ID()] = true
		expectSameEvent(Default, got, w)
		Expect(string(m.Key)).To(Equal(w.Subject()), "key of %s", got.ID())
	}
}

// sendCommand produces a scale command for the router and waits until the
// policy has taken it up.
func sendCommand(namespace string, replicas int32, reason string) {
	GinkgoHelper()
	command := scaleCommand(router, replicas, reason)
	produceEvents(topicOf(namespace, "scale-commands"), []cloudevents.Event{command})
	Eventually(func(g Gomega) {
		p := &eventpipev1alpha1.AutoscalePolicy{}
		g.Expect(env.k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: router}, p)).
			To(Succeed())
		g.Expect(p.Status.LastCommand).NotTo(BeNil())
		g.Expect(p.Status.LastCommand.Reason).To(Equal(reason))
	}).WithTimeout(scaleTimeout).WithPolling(poll).Should(Succeed())
}

// expectFloor waits for a policy's floor.
func expectFloor(namespace, name string, floor int32) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		p := &eventpipev1alpha1.AutoscalePolicy{}
		g.Expect(env.k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, p)).
			To(Succeed())
		g.Expect(p.Status.Floor).To(Equal(floor), "decisions: %+v", p.Status.Decisions)
	}).WithTimeout(scaleTimeout).WithPolling(poll).Should(Succeed())
}

// expectHPAFloor waits until a policy's HPA has minReplicas floor.
func expectHPAFloor(namespace, name string, floor int32) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		hpa := &autoscalingv2.HorizontalPodAutoscaler{}
		g.Expect(env.k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, hpa)).
			To(Succeed())
		g.Expect(hpa.Spec.MinReplicas).To(HaveValue(Equal(floor)))
	}).WithTimeout(scaleTimeout).WithPolling(poll).Should(Succeed())
}

// expectGroupMembers waits until the router's consumer group has n members
// in Kafka: the workers the HPA scaled really joined or left it.
func expectGroupMembers(namespace string, n int) {
	GinkgoHelper()
	c := &eventpipev1alpha1.Consumer{}
	key := client.ObjectKey{Namespace: namespace, Name: router}
	Expect(env.k8s.Get(context.Background(), key, c)).To(Succeed())
	group := c.EffectiveConsumerGroup()
	Eventually(func(g Gomega) {
		members, err := groupMembers(group)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(members).To(Equal(n), "members of consumer group %s", group)
	}).WithTimeout(scaleTimeout).WithPolling(poll).Should(Succeed())
}

// scraperToken returns a token of a new ServiceAccount bound to the
// metrics-reader ClusterRole, as a Prometheus would have.
func scraperToken(namespace, role string) string {
	GinkgoHelper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "metrics-scraper"},
	}
	Expect(env.k8s.Create(ctx, sa)).To(Succeed())
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: namespace + "-metrics-scraper"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: sa.Name}},
	}
	Expect(env.k8s.Create(ctx, binding)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(env.k8s.Delete(ctx, binding))).To(Succeed()) })
	tr, err := env.clientset.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, sa.Name,
		&authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	return tr.Status.Token
}

// scrape GETs /metrics over HTTPS (the manager's certificate is self-signed)
// and returns the status code.
func scrape(addr, token string) (int, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		// The manager serves metrics with a self-signed certificate.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
	}}
	req, err := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}
