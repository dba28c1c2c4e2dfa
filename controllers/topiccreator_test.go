package controllers

import (
	"fmt"
	"sync"

	"github.com/IBM/sarama"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/eventpipe/eventpipe/internal/kafka"
)

var _ = Describe("TopicCreator", func() {
	Context("when many callers create topics at once", func() {
		It("should create them all and give each caller its own topic's answer", func() {
			creator := kafka.NewTopicCreator(kafkaCfg)
			go func() {
				defer GinkgoRecover()
				Expect(creator.Start(suiteCtx)).To(Succeed())
			}()

			prefix := uniqueName("batch")
			existing := prefix + "-existing"
			createTopicDirectly(existing, 1, nil)

			const n = 40
			errs := make([]error, n+1)
			var wg sync.WaitGroup
			for i := range n + 1 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					name := fmt.Sprintf("%s-%02d", prefix, i)
					if i == n {
						name = existing
					}
					errs[i] = creator.Create(suiteCtx, name, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: -1})
				}()
			}
			wg.Wait()

			for i := range n {
				Expect(errs[i]).NotTo(HaveOccurred(), "topic %d", i)
				Eventually(func(g Gomega) {
					g.Expect(describeKafkaTopic(g, fmt.Sprintf("%s-%02d", prefix, i)).partitions).To(Equal(2))
				}, eventually, poll).Should(Succeed())
			}
			Expect(errs[n]).To(MatchError(sarama.ErrTopicAlreadyExists))
		})
	})

	Context("when the brokers cannot be reached", func() {
		It("should return an error that says so", func() {
			creator := kafka.NewTopicCreator(kafka.Config{BootstrapServers: []string{closedPort()}})
			go func() {
				defer GinkgoRecover()
				Expect(creator.Start(suiteCtx)).To(Succeed())
			}()
			err := creator.Create(suiteCtx, uniqueName("nowhere"), &sarama.TopicDetail{NumPartitions: 1})
			Expect(err).To(HaveOccurred())
			Expect(kafka.IsUnreachable(err)).To(BeTrue(), err.Error())
		})
	})
})
