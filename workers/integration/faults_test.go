package integration_test

import (
	"fmt"
	"time"

	"github.com/IBM/sarama"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/eventpipe/eventpipe/workers/config"
)

// produceInBackground writes ids prefix-from..to-1 at about rate events per
// second; the returned channel closes when all are written.
func produceInBackground(p sarama.SyncProducer, topic, prefix string, from, to int,
	partitions int32, rate int) <-chan struct{} {
	done := make(chan struct{})
	const batch = 100
	interval := time.Second * batch / time.Duration(rate)
	go func() {
		defer GinkgoRecover()
		defer close(done)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for i := from; i < to; i += batch {
			produceEvents(p, topic, prefix, i, min(i+batch, to), partitions)
			<-ticker.C
		}
	}()
	return done
}

// waitTotal waits until a collector has seen at least n messages.
func waitTotal(c *collector, n int) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		_, total, _ := c.snapshot()
		g.Expect(total).To(BeNumerically(">=", n))
	}).WithTimeout(flowTimeout).Should(Succeed())
}

func waitDistinct(c *collector, n int) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		distinct, _, _ := c.snapshot()
		g.Expect(distinct).To(Equal(n))
	}).WithTimeout(flowTimeout + rebalanceTimeout).Should(Succeed())
}

func report(what string, c *collector) {
	distinct, total, dups := c.snapshot()
	msg := fmt.Sprintf("%s: %d distinct, %d written, %d duplicates", what, distinct, total, dups)
	AddReportEntry(msg)
	GinkgoWriter.Println(msg)
}

var _ = Describe("The worker under faults", func() {
	const events = 8000
	const rate = 4000

	Context("when a worker is killed mid-stream and started again", func() {
		It("should lose nothing with AtLeastOnce", func() {
			p := newPipeline(3, config.AtLeastOnce, true)
			out := collect(p.out, false, false)
			w := startWorker(p.cfg)
			done := produceInBackground(newProducer(), p.in, "a", 0, events, p.partitions, rate)

			waitTotal(out, events/3)
			w.kill()
			startWorker(p.cfg)
			Eventually(done).WithTimeout(flowTimeout).Should(BeClosed())
			waitDistinct(out, events)
			report("AtLeastOnce after SIGKILL", out)
		})

		It("should emit no duplicate for duplicated inputs with Idempotent", func() {
			p := newPipeline(3, config.Idempotent, true)
			prod := newProducer()
			out := collect(p.out, false, false)
			produceEvents(prod, p.in, "d", 0, 1000, p.partitions)
			w := startWorker(p.cfg)
			Eventually(func(g Gomega) {
				g.Expect(committed(p.cfg.ConsumerGroup, p.in, p.partitions)).To(BeNumerically("==", 1000))
			}).WithTimeout(flowTimeout).Should(Succeed())

			done := produceInBackground(prod, p.in, "d", 1000, events, p.partitions, rate)
			produceEvents(prod, p.in, "d", 0, 250, p.partitions) // copies before the kill
			waitTotal(out, events/3)
			w.kill()
			restarted := startWorker(p.cfg)
			produceEvents(prod, p.in, "d", 250, 500, p.partitions) // copies after the restart
			Eventually(done).WithTimeout(flowTimeout).Should(BeClosed())
			waitDistinct(out, events)
			// The restarted worker holds the key of every distinct input: those
			// it loaded from the changelog and those it handled itself.
			Eventually(func(g Gomega) {
				body, err := restarted.metrics()
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(metricValue(body, "eventpipe_worker_dedup_keys")).To(Equal(float64(events)))
			}).WithTimeout(flowTimeout).Should(Succeed())

			for i := range 500 {
				Expect(out.count(fmt.Sprintf("d-%d", i))).To(Equal(1), "outputs of d-%d", i)
			}
			report("Idempotent after SIGKILL (inputs d-0..d-499 sent twice)", out)
		})

		It("should emit every input exactly once under read_committed with ExactlyOnce", func() {
			p := newPipeline(3, config.ExactlyOnce, true)
			out := collect(p.out, true, false)
			w := startWorker(p.cfg)
			done := produceInBackground(newProducer(), p.in, "x", 0, events, p.partitions, rate)

			waitTotal(out, events/3)
			w.kill()
			startWorker(p.cfg)
			Eventually(done).WithTimeout(flowTimeout).Should(BeClosed())
			waitDistinct(out, events)
			Consistently(func(g Gomega) {
				_, total, dups := out.snapshot()
				g.Expect(dups).To(BeZero())
				g.Expect(total).To(Equal(events))
			}).WithTimeout(2 * time.Second).Should(Succeed())
			report("ExactlyOnce after SIGKILL", out)
		})
	})

	Context("when the group grows from 1 to 3 workers mid-stream", func() {
		It("should lose nothing and let every worker stop cleanly", func() {
			const total = 12000
			p := newPipeline(3, config.AtLeastOnce, true)
			out := collect(p.out, false, false)
			workers := []*worker{startWorker(p.cfg)}
			done := produceInBackground(newProducer(), p.in, "s", 0, total, p.partitions, rate/2)

			waitTotal(out, total/6)
			workers = append(workers, startWorker(p.cfg), startWorker(p.cfg))
			Eventually(done).WithTimeout(flowTimeout).Should(BeClosed())
			waitDistinct(out, total)
			report("AtLeastOnce scaled from 1 to 3 workers", out)
			for _, w := range workers {
				Expect(w.stop()).To(Equal(0), "exit code of a worker after SIGTERM:\n%s", w.log())
			}
		})
	})
})
