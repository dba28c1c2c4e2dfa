package integration_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/eventpipe/eventpipe/internal/kafka"
	"github.com/eventpipe/eventpipe/workers/config"
)

// The broker applies max.message.bytes to a whole record batch, and the
// worker's producer may put every output of a partition into one batch, so
// the limit of the output topic is far above all the small events of a spec
// together and still below one big event.
const (
	smallEventSize = 200
	outputLimit    = 256 << 10
	bigEventSize   = 300 << 10
	fixedLimit     = 1 << 20
	// rejectedMessage is how sarama words the broker's MESSAGE_TOO_LARGE.
	rejectedMessage = "Message was too large"
	// stuckWindow is how long a spec watches a partition that cannot write.
	stuckWindow = 10 * time.Second
	// maxHeldRetries bounds the write attempts of a held partition within
	// stuckWindow. The specs back off with jittered waits of up to 1s, 2s,
	// then 4s, so more than 15 attempts in 10s would take 15 waits averaging
	// under 0.7s, which simulating the jitter never produced in 200,000 runs;
	// a slow machine only lowers the count. A worker that rejoins and writes
	// again at once logged 30 here.
	maxHeldRetries = 15
)

// setTopicConfig sets one configuration entry of a topic, as an operator
// fixing a topic by hand would.
func setTopicConfig(topic, name, value string) {
	GinkgoHelper()
	admin, err := kafka.NewClusterAdmin(kafkaConfig())
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = admin.Close() }()
	err = admin.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		name: {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &value},
	}, false)
	Expect(err).NotTo(HaveOccurred(), "set %s=%s on topic %s", name, value, topic)
}

// eventsOn builds events prefix-from..prefix-to-1 of about size bytes for one partition.
func eventsOn(topic string, partition int32, size int, prefix string, from, to int) []*sarama.ProducerMessage {
	var msgs []*sarama.ProducerMessage
	for i := from; i < to; i++ {
		m := eventMessage(topic, newEvent(fmt.Sprintf("%s-%d", prefix, i), "com.example.order.created", size))
		m.Partition = partition
		msgs = append(msgs, m)
	}
	return msgs
}

// rejectedOutputs is a worker whose partition 0 meets outputs the output
// topic rejects, after 50 events on each of two partitions went through.
type rejectedOutputs struct {
	p   pipeline
	w   *worker
	out *collector
}

// Offsets of the input partitions: 50 small events each go through first;
// then partition 0 gets big-0 (at offset 50), a-0..a-19, big-1 and
// a-20..a-39, and partition 1 gets b-0..b-39.
const (
	firstEvents    = 100
	safeOffset0    = 50
	endOffset0     = 92
	endOffset1     = 90
	distinctEvents = firstEvents + 2 + 40 + 40
)

func startRejectingOutputs(guarantee string) rejectedOutputs {
	GinkgoHelper()
	p := newPipeline(2, guarantee, true)
	p.cfg.Delivery.BackoffInitial = config.Duration{Duration: time.Second}
	p.cfg.Delivery.BackoffMax = config.Duration{Duration: 4 * time.Second}
	setTopicConfig(p.out, "max.message.bytes", strconv.Itoa(outputLimit))
	prod := newProducer()
	produceEvents(prod, p.in, "s", 0, firstEvents, p.partitions)
	out := collect(p.out, guarantee == config.ExactlyOnce, false)
	w := startWorker(p.cfg)
	Eventually(func(g Gomega) {
		g.Expect(committedOffsets(p.cfg.ConsumerGroup, p.in, p.partitions)).
			To(Equal(map[int32]int64{0: safeOffset0, 1: safeOffset0}), "committed offsets of the small events")
	}).WithTimeout(flowTimeout).Should(Succeed())

	var msgs []*sarama.ProducerMessage
	msgs = append(msgs, eventsOn(p.in, 0, bigEventSize, "big", 0, 1)...)
	msgs = append(msgs, eventsOn(p.in, 0, smallEventSize, "a", 0, 20)...)
	msgs = append(msgs, eventsOn(p.in, 0, bigEventSize, "big", 1, 2)...)
	msgs = append(msgs, eventsOn(p.in, 0, smallEventSize, "a", 20, 40)...)
	msgs = append(msgs, eventsOn(p.in, 1, smallEventSize, "b", 0, 40)...)
	Expect(prod.SendMessages(msgs)).To(Succeed())
	return rejectedOutputs{p: p, w: w, out: out}
}

// expectHeldBeforeBigEvent checks that partition 0 commits nothing from the
// rejected batch on, that partition 1 goes on, that the worker says why on
// /readyz and in its log, and that it retries with backoff instead of
// exiting or spinning.
func (r rejectedOutputs) expectHeldBeforeBigEvent() {
	GinkgoHelper()
	group, in, parts := r.p.cfg.ConsumerGroup, r.p.in, r.p.partitions
	held := map[int32]int64{0: safeOffset0, 1: endOffset1}
	Eventually(func(g Gomega) {
		code, body, err := r.w.readyz()
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(code).To(Equal(http.StatusServiceUnavailable), "/readyz while partition 0 cannot write: %s", body)
		g.Expect(body).To(ContainSubstring("partition 0 stopped"))
		g.Expect(body).To(ContainSubstring(fmt.Sprintf("offset %d", safeOffset0)))
		g.Expect(body).To(ContainSubstring(rejectedMessage))
		g.Expect(committedOffsets(group, in, parts)).To(Equal(held), "committed offsets while partition 0 is held")
		g.Expect(r.w.log()).To(ContainSubstring(rejectedMessage), "the worker's log names the rejection")
		metrics, err := r.w.metrics()
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(metricValue(metrics, "eventpipe_worker_partition_lag")).To(BeNumerically("==", endOffset0-safeOffset0),
			"eventpipe_worker_partition_lag (partition 1 is drained) while partition 0 is held")
	}).WithTimeout(flowTimeout).Should(Succeed())

	before := strings.Count(r.w.log(), rejectedMessage)
	Consistently(func(g Gomega) {
		g.Expect(committedOffsets(group, in, parts)).To(Equal(held), "committed offsets while partition 0 is held")
		g.Expect(r.w.exited).NotTo(BeClosed(), "the worker exited instead of retrying:\n%s", r.w.log())
	}).WithTimeout(stuckWindow).WithPolling(time.Second).Should(Succeed())
	retries := strings.Count(r.w.log(), rejectedMessage) - before
	body, err := r.w.metrics()
	Expect(err).NotTo(HaveOccurred())
	Expect(metricValue(body, "eventpipe_worker_output_write_failures_total")).To(BeNumerically(">", 0),
		"eventpipe_worker_output_write_failures_total while partition 0 cannot write")
	AddReportEntry(fmt.Sprintf("rejected writes logged in %v: %d", stuckWindow, retries))
	// The batch is written again inside the claim: leaving it would
	// rebalance the whole group at every attempt.
	Expect(strings.Count(r.w.log(), "Partitions assigned")).To(Equal(1),
		"assignments while partition 0 is held: the worker left the group to retry")
	Expect(retries).To(BeNumerically(">", 0), "rejected writes logged in %v: a held partition "+
		"must keep trying to write", stuckWindow)
	Expect(retries).To(BeNumerically("<=", maxHeldRetries),
		"rejected writes logged in %v: want at most %d, or the worker retries without waiting",
		stuckWindow, maxHeldRetries)
}

// fixTopicAndExpectEverything raises the output topic's limit and checks that
// the same worker process writes every event, the big ones included, commits
// every offset and becomes ready again.
func (r rejectedOutputs) fixTopicAndExpectEverything() {
	GinkgoHelper()
	setTopicConfig(r.p.out, "max.message.bytes", strconv.Itoa(fixedLimit))
	Eventually(func(g Gomega) {
		distinct, _, _ := r.out.snapshot()
		g.Expect(distinct).To(Equal(distinctEvents), "distinct events written")
		g.Expect(r.out.count("big-0")).To(BeNumerically(">=", 1), "outputs of big-0")
		g.Expect(r.out.count("big-1")).To(BeNumerically(">=", 1), "outputs of big-1")
		g.Expect(committedOffsets(r.p.cfg.ConsumerGroup, r.p.in, r.p.partitions)).
			To(Equal(map[int32]int64{0: endOffset0, 1: endOffset1}), "committed offsets once the topic is fixed")
		code, body, err := r.w.readyz()
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(code).To(Equal(http.StatusOK), "/readyz once every event is written: %s", body)
	}).WithTimeout(flowTimeout).Should(Succeed())
	Expect(r.w.exited).NotTo(BeClosed(), "the worker exited:\n%s", r.w.log())
	Expect(strings.Count(r.w.log(), "Partitions assigned")).To(Equal(1),
		"assignments until every event is written")
}

var _ = Describe("The worker when the broker rejects an output", func() {
	Context("when an output is larger than the output topic's max.message.bytes", func() {
		It("should hold the partition before it with AtLeastOnce, say why, and catch up once the topic is fixed",
			func() {
				r := startRejectingOutputs(config.AtLeastOnce)
				r.expectHeldBeforeBigEvent()
				r.fixTopicAndExpectEverything()
				report("AtLeastOnce after a rejected output", r.out)
			})

		It("should hold the partition before it with Idempotent, and not skip the rejected events as duplicates",
			func() {
				r := startRejectingOutputs(config.Idempotent)
				r.expectHeldBeforeBigEvent()
				r.fixTopicAndExpectEverything()
				report("Idempotent after a rejected output", r.out)
			})

		It("should hold the partition before it with ExactlyOnce, say why, and catch up once the topic is fixed",
			func() {
				r := startRejectingOutputs(config.ExactlyOnce)
				r.expectHeldBeforeBigEvent()
				r.fixTopicAndExpectEverything()
				Consistently(func(g Gomega) {
					distinct, total, dups := r.out.snapshot()
					g.Expect(dups).To(BeZero(), "duplicates under read_committed")
					g.Expect(total).To(Equal(distinct), "outputs written")
				}).WithTimeout(2 * time.Second).Should(Succeed())
				report("ExactlyOnce after a rejected output", r.out)
			})
	})
})
