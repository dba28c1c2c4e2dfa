package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/eventpipe/eventpipe/internal/kafka"
	"github.com/eventpipe/eventpipe/workers/config"
)

// kafkaConfig is the broker of the suite.
func kafkaConfig() kafka.Config {
	return kafka.Config{BootstrapServers: kafka.ParseBootstrapServers(bootstrap), ClientID: "worker-it"}
}

// uniqueName returns a topic or group name no other spec uses.
func uniqueName(prefix string) string {
	return fmt.Sprintf("it.%s.%d", prefix, time.Now().UnixNano())
}

func createTopics(partitions int32, names ...string) {
	GinkgoHelper()
	admin, err := kafka.NewClusterAdmin(kafkaConfig())
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = admin.Close() }()
	for _, name := range names {
		err := admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: partitions,
			ReplicationFactor: 1}, false)
		Expect(err).NotTo(HaveOccurred(), "create topic %s", name)
	}
}

// newEvent is a binary-mode CloudEvent of eventType with a JSON body of ~size bytes.
func newEvent(id, eventType string, size int) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetSource("worker-it")
	e.SetType(eventType)
	pad := make([]byte, max(size-40, 0))
	for i := range pad {
		pad[i] = 'x'
	}
	Expect(e.SetData(cloudevents.ApplicationJSON, map[string]string{"id": id, "pad": string(pad)})).
		To(Succeed())
	return e
}

func eventMessage(topic string, e cloudevents.Event) *sarama.ProducerMessage {
	pm := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(e.ID())}
	ctx := binding.WithForceBinary(context.Background())
	Expect(kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(&e), pm)).To(Succeed())
	pm.Key = sarama.StringEncoder(e.ID())
	return pm
}

func newProducer() sarama.SyncProducer {
	GinkgoHelper()
	sc, err := kafkaConfig().Sarama()
	Expect(err).NotTo(HaveOccurred())
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer(kafkaConfig().BootstrapServers, sc)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { _ = p.Close() })
	return p
}

// produceEvents writes events with ids prefix-from..prefix-to-1, spread over
// partitions round robin, in batches.
func produceEvents(p sarama.SyncProducer, topic, prefix string, from, to int, partitions int32) {
	GinkgoHelper()
	var batch []*sarama.ProducerMessage
	for i := from; i < to; i++ {
		m := eventMessage(topic, newEvent(fmt.Sprintf("%s-%d", prefix, i), "com.example.order.created", 200))
		m.Partition = int32(i) % partitions
		batch = append(batch, m)
		if len(batch) == 1000 {
			Expect(p.SendMessages(batch)).To(Succeed())
			batch = nil
		}
	}
	if len(batch) > 0 {
		Expect(p.SendMessages(batch)).To(Succeed())
	}
}

// collector reads every partition of a topic from the start.
type collector struct {
	mu       sync.Mutex
	counts   map[string]int
	messages []*sarama.ConsumerMessage
	total    int
	keep     bool
}

func collect(topic string, readCommitted, keep bool) *collector {
	GinkgoHelper()
	sc, err := kafkaConfig().Sarama()
	Expect(err).NotTo(HaveOccurred())
	if readCommitted {
		sc.Consumer.IsolationLevel = sarama.ReadCommitted
	}
	client, err := sarama.NewClient(kafkaConfig().BootstrapServers, sc)
	Expect(err).NotTo(HaveOccurred())
	consumer, err := sarama.NewConsumerFromClient(client)
	Expect(err).NotTo(HaveOccurred())
	parts, err := client.Partitions(topic)
	Expect(err).NotTo(HaveOccurred())
	c := &collector{counts: map[string]int{}, keep: keep}
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		Expect(err).NotTo(HaveOccurred())
		go func() {
			for msg := range pc.Messages() {
				c.add(msg)
			}
		}()
		DeferCleanup(func() { _ = pc.Close() })
	}
	DeferCleanup(func() { _ = consumer.Close(); _ = client.Close() })
	return c
}

func header(msg *sarama.ConsumerMessage, key string) string {
	for _, h := range msg.Headers {
		if string(h.Key) == key {
			return string(h.Value)
		}
	}
	return ""
}

func (c *collector) add(msg *sarama.ConsumerMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total++
	c.counts[header(msg, "ce_id")]++
	if c.keep {
		c.messages = append(c.messages, msg)
	}
}

// snapshot returns distinct ids, total messages and ids seen more than once.
func (c *collector) snapshot() (distinct, total, duplicates int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.counts {
		if n > 1 {
			duplicates += n - 1
		}
	}
	return len(c.counts), c.total, duplicates
}

func (c *collector) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[id]
}

func (c *collector) all() []*sarama.ConsumerMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*sarama.ConsumerMessage(nil), c.messages...)
}

// worker is one worker process.
type worker struct {
	cmd         *exec.Cmd
	logs        *bytes.Buffer
	healthAddr  string
	metricsAddr string
	exited      chan struct{}
	mu          sync.Mutex
}

func freeAddr() string {
	GinkgoHelper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}

type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// startWorker runs the worker binary with cfg; the spec's cleanup kills it,
// prints its log when the spec failed and fails the spec when the worker
// reported a data race.
func startWorker(cfg config.Worker) *worker {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	path := filepath.Join(dir, config.FileName)
	b, err := json.Marshal(cfg)
	Expect(err).NotTo(HaveOccurred())
	Expect(os.WriteFile(path, b, 0o600)).To(Succeed())

	w := &worker{logs: &bytes.Buffer{}, healthAddr: freeAddr(), metricsAddr: freeAddr(),
		exited: make(chan struct{})}
	w.cmd = exec.Command(workerBinary, "--processor=passthrough", "--config="+path,
		"--kafka-bootstrap-servers="+bootstrap, "--health-probe-bind-address="+w.healthAddr,
		"--metrics-bind-address="+w.metricsAddr, "--shutdown-timeout=20s")
	out := syncWriter{mu: &w.mu, w: w.logs}
	w.cmd.Stdout, w.cmd.Stderr = out, out
	Expect(w.cmd.Start()).To(Succeed())
	go func() { _ = w.cmd.Wait(); close(w.exited) }()
	DeferCleanup(func() {
		w.kill()
		race := strings.Contains(w.log(), "WARNING: DATA RACE")
		if race || CurrentSpecReport().Failed() {
			AddReportEntry("worker "+strconv.Itoa(w.cmd.Process.Pid)+" log", w.log())
		}
		Expect(race).To(BeFalse(), "the race detector found a data race in worker %d; its log is "+
			"in the report", w.cmd.Process.Pid)
	})
	return w
}

func (w *worker) log() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.logs.String()
}

func (w *worker) kill() {
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.exited
}

// stop sends SIGTERM and returns the exit code.
func (w *worker) stop() int {
	GinkgoHelper()
	Expect(w.cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
	Eventually(w.exited).WithTimeout(shutdownTimeout).Should(BeClosed())
	return w.cmd.ProcessState.ExitCode()
}

func (w *worker) get(addr, path string) (int, string, error) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (w *worker) readyz() (int, string, error) { return w.get(w.healthAddr, "/readyz") }
func (w *worker) metrics() (string, error) {
	_, body, err := w.get(w.metricsAddr, "/metrics")
	return body, err
}

// committed returns the offsets a consumer group committed on a topic, summed.
func committed(group, topic string, partitions int32) int64 {
	GinkgoHelper()
	var sum int64
	for _, offset := range committedOffsets(group, topic, partitions) {
		sum += offset
	}
	return sum
}

// committedOffsets returns the offset a consumer group committed on each
// partition of a topic; a partition without a commit is absent.
func committedOffsets(group, topic string, partitions int32) map[int32]int64 {
	GinkgoHelper()
	admin, err := kafka.NewClusterAdmin(kafkaConfig())
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = admin.Close() }()
	ps := make([]int32, partitions)
	for i := range ps {
		ps[i] = int32(i)
	}
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
	Expect(err).NotTo(HaveOccurred())
	offsets := map[int32]int64{}
	for p, b := range resp.Blocks[topic] {
		if b.Offset > 0 {
			offsets[p] = b.Offset
		}
	}
	return offsets
}
