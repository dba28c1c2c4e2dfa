package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/eventpipe/eventpipe/workers/config"
	"github.com/eventpipe/eventpipe/workers/processors/passthrough"
	"github.com/eventpipe/eventpipe/workers/runtime"
	"github.com/eventpipe/eventpipe/workers/upcast"
)

// pipeline is the topics and the worker configuration of one spec.
type pipeline struct {
	in, out, dlq, dedup string
	partitions          int32
	cfg                 config.Worker
}

func newPipeline(partitions int32, guarantee string, withDLQ bool) pipeline {
	GinkgoHelper()
	p := pipeline{in: uniqueName("in"), out: uniqueName("out"), partitions: partitions}
	topics := []string{p.in, p.out}
	if withDLQ {
		p.dlq = uniqueName("dlq")
		topics = append(topics, p.dlq)
	}
	createTopics(partitions, topics...)
	p.cfg = config.Worker{
		Consumer:        "it/" + p.in,
		ConsumerGroup:   uniqueName("group"),
		InputTopic:      p.in,
		InitialOffset:   config.Earliest,
		Outputs:         map[string]string{"out": p.out},
		DeadLetterTopic: p.dlq,
		Delivery: config.Delivery{Guarantee: guarantee, MaxAttempts: 3,
			BackoffInitial: config.Duration{Duration: 10 * time.Millisecond},
			BackoffMax:     config.Duration{Duration: 50 * time.Millisecond},
			DedupTTL:       config.Duration{Duration: time.Hour}},
		Settings: json.RawMessage(`{"defaultOutput": "out",
			"failTypes": {"com.example.flaky": "retryable", "com.example.poison": "permanent"}}`),
	}
	if guarantee == config.Idempotent {
		p.dedup = uniqueName("dedup")
		p.cfg.DedupTopic = p.dedup
	}
	return p
}

func metricValue(body, name string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? ([0-9.e+]+)$`)
	var sum float64
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		sum += v
	}
	return sum
}

var _ = Describe("The worker", func() {
	Context("when 20,000 events go through passthrough", func() {
		It("should emit every event exactly once and stop cleanly on SIGTERM", func() {
			p := newPipeline(3, config.AtLeastOnce, true)
			produceEvents(newProducer(), p.in, "e", 0, 20000, p.partitions)
			out := collect(p.out, false, false)
			w := startWorker(p.cfg)

			Eventually(func(g Gomega) {
				distinct, total, _ := out.snapshot()
				g.Expect(distinct).To(Equal(20000))
				g.Expect(total).To(Equal(20000))
			}).WithTimeout(flowTimeout).Should(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(committed(p.cfg.ConsumerGroup, p.in, p.partitions)).To(BeNumerically("==", 20000))
			}).WithTimeout(flowTimeout).Should(Succeed())
			Eventually(func(g Gomega) {
				body, err := w.metrics()
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(metricValue(body, "eventpipe_worker_events_processed_total")).To(Equal(20000.0))
			}).WithTimeout(flowTimeout).Should(Succeed())
			Expect(w.stop()).To(Equal(0))
			distinct, total, _ := out.snapshot()
			Expect(distinct).To(Equal(20000))
			Expect(total).To(Equal(20000))
		})
	})

	Context("when inputs are malformed or fail", func() {
		It("should dead-letter them with the reason and keep the good events flowing", func() {
			p := newPipeline(1, config.AtLeastOnce, true)
			prod := newProducer()
			sample := func(id, version string) *sarama.ProducerMessage {
				e := newEvent(id, passthrough.SampleType, 10)
				e.SetExtension(upcast.Extension, version)
				_ = e.SetData("application/json", map[string]int{"value": 1})
				return eventMessage(p.in, e)
			}
			broken := eventMessage(p.in, newEvent("broken", "com.example.order.created", 10))
			broken.Value = sarama.StringEncoder(`{"id": "broken", `)
			msgs := []*sarama.ProducerMessage{
				eventMessage(p.in, newEvent("good-1", "com.example.order.created", 10)),
				{Topic: p.in, Value: sarama.StringEncoder("hello, not an event")},
				broken,
				sample("sample-v1", "1"),
				sample("sample-v7", "7"),
				eventMessage(p.in, newEvent("flaky", "com.example.flaky", 10)),
				eventMessage(p.in, newEvent("poison", "com.example.poison", 10)),
				eventMessage(p.in, newEvent("good-2", "com.example.order.created", 10)),
			}
			Expect(prod.SendMessages(msgs)).To(Succeed())
			out := collect(p.out, false, true)
			dlq := collect(p.dlq, false, true)
			w := startWorker(p.cfg)

			Eventually(func(g Gomega) {
				g.Expect(out.count("good-1")).To(Equal(1))
				g.Expect(out.count("good-2")).To(Equal(1))
				g.Expect(out.count("sample-v1")).To(Equal(1))
				g.Expect(dlq.all()).To(HaveLen(5))
			}).WithTimeout(flowTimeout).Should(Succeed())
			_, total, _ := out.snapshot()
			Expect(total).To(Equal(3))

			reasons := map[string][2]string{}
			for _, m := range dlq.all() {
				id := header(m, "ce_id")
				if id == "" {
					id = string(m.Value)
				}
				reasons[id] = [2]string{header(m, runtime.HeaderDLQReason), header(m, runtime.HeaderDLQAttempts)}
				Expect(header(m, runtime.HeaderDLQTopic)).To(Equal(p.in))
				Expect(header(m, runtime.HeaderDLQPartition)).To(Equal("0"))
				Expect(header(m, runtime.HeaderDLQOffset)).NotTo(BeEmpty())
				Expect(header(m, runtime.HeaderDLQConsumer)).To(Equal(p.cfg.Consumer))
			}
			Expect(reasons).To(Equal(map[string][2]string{
				"hello, not an event": {string(runtime.ReasonNotCloudEvent), "0"},
				"broken":              {string(runtime.ReasonInvalidData), "0"},
				"sample-v7":           {string(runtime.ReasonUnknownSchemaVersion), "0"},
				"flaky":               {string(runtime.ReasonRetriesExhausted), "3"},
				"poison":              {string(runtime.ReasonProcessorError), "1"},
			}))
			for _, m := range dlq.all() {
				if header(m, "ce_id") == "broken" {
					Expect(string(m.Value)).To(Equal(`{"id": "broken", `), "payload kept")
				}
			}
			for _, m := range out.all() {
				if header(m, "ce_id") == "sample-v1" {
					Expect(header(m, "ce_"+upcast.Extension)).To(Equal("2"))
					Expect(string(m.Value)).To(ContainSubstring(`"unit":"none"`))
				}
			}

			Eventually(func(g Gomega) {
				body, err := w.metrics()
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(metricValue(body, "eventpipe_worker_events_retried_total")).To(Equal(2.0))
				g.Expect(metricValue(body, "eventpipe_worker_events_dead_lettered_total")).To(Equal(5.0))
			}).WithTimeout(flowTimeout).Should(Succeed())
		})

		It("should stop only the partition of an event it cannot dead-letter, and say so", func() {
			p := newPipeline(2, config.AtLeastOnce, false)
			prod := newProducer()
			var msgs []*sarama.ProducerMessage
			for i := range 20 {
				eventType := "com.example.order.created"
				if i == 10 {
					eventType = "com.example.poison"
				}
				m := eventMessage(p.in, newEvent(fmt.Sprintf("p0-%d", i), eventType, 10))
				m.Partition = 0
				msgs = append(msgs, m)
				m = eventMessage(p.in, newEvent(fmt.Sprintf("p1-%d", i), "com.example.order.created", 10))
				m.Partition = 1
				msgs = append(msgs, m)
			}
			Expect(prod.SendMessages(msgs)).To(Succeed())
			out := collect(p.out, false, false)
			w := startWorker(p.cfg)

			Eventually(func(g Gomega) {
				code, body, err := w.readyz()
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(code).To(Equal(http.StatusServiceUnavailable))
				g.Expect(body).To(ContainSubstring("partition 0 stopped"))
				g.Expect(body).To(ContainSubstring("no dead-letter topic"))
				_, total, _ := out.snapshot()
				g.Expect(total).To(Equal(30))
			}).WithTimeout(flowTimeout).Should(Succeed())
			Consistently(func(g Gomega) {
				g.Expect(out.count("p0-11")).To(BeZero())
			}).WithTimeout(2 * time.Second).Should(Succeed())
			Expect(committed(p.cfg.ConsumerGroup, p.in, p.partitions)).To(BeNumerically("==", 30))
		})
	})

	Context("when an Idempotent worker's dedup store reaches dedupMaxKeys", func() {
		It("should forget the oldest ids, count them, lose no event and still catch recent duplicates", func() {
			p := newPipeline(1, config.Idempotent, true)
			p.cfg.Delivery.DedupMaxKeys = 1000
			prod := newProducer()
			out := collect(p.out, false, false)
			produceEvents(prod, p.in, "b", 0, 3000, p.partitions)
			w := startWorker(p.cfg)
			waitDistinct(out, 3000)
			Eventually(func(g Gomega) {
				g.Expect(committed(p.cfg.ConsumerGroup, p.in, p.partitions)).To(BeNumerically("==", 3000))
			}).WithTimeout(flowTimeout).Should(Succeed())

			body, err := w.metrics()
			Expect(err).NotTo(HaveOccurred())
			held := metricValue(body, "eventpipe_worker_dedup_keys")
			Expect(held).To(BeNumerically("<=", 1000))
			Expect(held).To(BeNumerically(">=", 900))
			Expect(metricValue(body, "eventpipe_worker_dedup_keys_evicted_total")).To(Equal(3000 - held))
			Expect(w.log()).To(ContainSubstring("Dedup store at its bound"))

			// The newest ids are within the window left; the oldest are not.
			produceEvents(prod, p.in, "b", 2500, 3000, p.partitions)
			produceEvents(prod, p.in, "b", 0, 10, p.partitions)
			Eventually(func(g Gomega) {
				g.Expect(committed(p.cfg.ConsumerGroup, p.in, p.partitions)).To(BeNumerically("==", 3510))
			}).WithTimeout(flowTimeout).Should(Succeed())
			for i := 2500; i < 3000; i++ {
				Expect(out.count(fmt.Sprintf("b-%d", i))).To(Equal(1), "outputs of b-%d, a recent duplicate", i)
			}
			for i := range 10 {
				Expect(out.count(fmt.Sprintf("b-%d", i))).To(Equal(2), "outputs of b-%d, forgotten", i)
			}

			// A worker that loads the changelog, which holds every key, keeps
			// to the bound too, and still knows the newest ids.
			Expect(w.stop()).To(Equal(0))
			restarted := startWorker(p.cfg)
			Eventually(func(g Gomega) {
				body, err := restarted.metrics()
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(restarted.log()).To(ContainSubstring("Loaded dedup changelog"))
				g.Expect(metricValue(body, "eventpipe_worker_dedup_keys")).To(BeNumerically("<=", 1000))
			}).WithTimeout(flowTimeout).Should(Succeed())
			produceEvents(prod, p.in, "b", 2900, 3000, p.partitions)
			Eventually(func(g Gomega) {
				g.Expect(committed(p.cfg.ConsumerGroup, p.in, p.partitions)).To(BeNumerically("==", 3610))
			}).WithTimeout(flowTimeout).Should(Succeed())
			for i := 2900; i < 3000; i++ {
				Expect(out.count(fmt.Sprintf("b-%d", i))).To(Equal(1), "outputs of b-%d after the restart", i)
			}
		})
	})
})
