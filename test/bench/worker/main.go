// Command worker measures the worker runtime against a raw sarama pipe on a
// real broker (KAFKA_BOOTSTRAP): for the baseline and each delivery guarantee
// it preloads 1 KiB CloudEvents and measures how fast they come out
// (events/s, and the ratio to the baseline), then produces at half of that
// peak and measures end-to-end latency (p50, p99) from the producer's clock,
// carried in the benchsent extension, to the output being read. The worker
// runs as its own process; its memory is read from /proc at steady state.
// Every pipe is measured in each of -rounds rounds, in turn, so a burst of
// load from elsewhere on the machine spoils one round rather than one pipe's
// figures; the medians over the rounds close the report.
//
//	make bench-worker
//	BENCH_WORKER_ARGS="-events 100000 -partitions 6 -rounds 1" make bench-worker
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"

	"github.com/eventpipe/eventpipe/internal/kafka"
	"github.com/eventpipe/eventpipe/workers/config"
)

const sentExtension = "benchsent"

type options struct {
	events     int
	partitions int32
	size       int
	steady     time.Duration
	settle     time.Duration
	steadyRate float64
	timeout    time.Duration
	kc         kafka.Config
	binary     string
}

type result struct {
	name     string
	rate     float64
	ratio    float64 // rate over the baseline's of the same round; 0 without one
	p50, p99 time.Duration
	halfRate float64
	// rssKiB and hwmKiB are the worker's VmRSS at steady state and its VmHWM
	// (peak); 0 when not measured (the baseline runs in this process).
	rssKiB, hwmKiB int64
	// cpuPerEvent is the worker's CPU time over the events it handled in
	// both parts of the run; 0 when not measured.
	cpuPerEvent time.Duration
	// brokerCPUPerEvent is the broker's CPU time over the run's events, when
	// the broker is the one hack/with-kafka.sh started; 0 otherwise.
	brokerCPUPerEvent time.Duration
	// busy is the share of the machine's CPU time in use while the latencies
	// were measured.
	busy float64
}

func main() {
	var o options
	flag.IntVar(&o.events, "events", 200000, "events preloaded for the peak run")
	partitions := flag.Int("partitions", 3, "partitions of the topics")
	flag.IntVar(&o.size, "size", 1024, "bytes of event data")
	flag.DurationVar(&o.steady, "steady", 10*time.Second, "length of the half-peak run")
	flag.DurationVar(&o.settle, "settle", 3*time.Second,
		"time the half-peak load runs before its latencies count, for the broker and the pipe to recover from the peak")
	flag.Float64Var(&o.steadyRate, "steady-rate", 0, "events/s of the latency run instead of half the peak")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up a run after this long")
	only := flag.String("only", "", "comma-separated subset of baseline,AtLeastOnce,Idempotent,ExactlyOnce")
	rounds := flag.Int("rounds", 3, "measure every pipe this many times, in turn, and print the medians")
	flag.Parse()
	o.partitions = int32(*partitions)

	bootstrap := os.Getenv("KAFKA_BOOTSTRAP")
	if bootstrap == "" {
		fail(errors.New("KAFKA_BOOTSTRAP is not set; run through `make bench-worker`"))
	}
	o.kc = kafka.Config{BootstrapServers: kafka.ParseBootstrapServers(bootstrap), ClientID: "bench"}
	dir, err := os.MkdirTemp("", "bench-worker")
	if err != nil {
		fail(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	o.binary = filepath.Join(dir, "worker")
	if out, err := exec.Command("go", "build", "-o", o.binary, "./cmd/worker").CombinedOutput(); err != nil {
		fail(fmt.Errorf("build worker: %w: %s", err, out))
	}

	scenarios := []string{"baseline", config.AtLeastOnce, config.Idempotent, config.ExactlyOnce}
	if *only != "" {
		scenarios = strings.Split(*only, ",")
	}
	fmt.Printf("events=%d size=%dB partitions=%d steady=%v rounds=%d\n", o.events, o.size, o.partitions,
		o.steady, *rounds)
	// A broker just started runs its request path interpreted until the JIT
	// has compiled it; a first pipe measured on it would be measured slow.
	warm := o
	warm.events, warm.steady, warm.settle = min(o.events, 20000), 2*time.Second, 0
	if _, err := run(warm, "baseline", dir); err != nil {
		fail(fmt.Errorf("warm-up: %w", err))
	}
	var all [][]result
	for round := 1; round <= *rounds; round++ {
		var results []result
		for _, s := range scenarios {
			r, err := run(o, s, dir)
			if err != nil {
				fail(fmt.Errorf("%s: %w", s, err))
			}
			fmt.Printf("  %-12s %8.0f events/s  half-peak %6.0f/s p50 %-8v p99 %-8v machine busy %3.0f%% "+
				"rss %s hwm %s CPU per event: worker %v broker %v\n", r.name, r.rate, r.halfRate, r.p50, r.p99,
				100*r.busy, kib(r.rssKiB), kib(r.hwmKiB), r.cpuPerEvent, r.brokerCPUPerEvent)
			results = append(results, r)
		}
		if *rounds > 1 {
			fmt.Printf("\nround %d:", round)
		}
		printTable(results)
		all = append(all, results)
	}
	if *rounds > 1 {
		fmt.Printf("\nmedians of %d rounds (each ratio against the baseline of its own round):", *rounds)
		printMedians(all)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench-worker:", err)
	os.Exit(1)
}

func printTable(results []result) {
	var base float64
	for _, r := range results {
		if r.name == "baseline" {
			base = r.rate
		}
	}
	for i := range results {
		if base > 0 {
			results[i].ratio = results[i].rate / base
		}
	}
	printRows(results)
}

func printRows(rows []result) {
	fmt.Println()
	fmt.Printf("%-12s %10s %7s %12s %9s %9s %5s %10s %10s %10s %10s\n", "pipe", "events/s", "ratio",
		"half-peak/s", "p50", "p99", "busy", "VmRSS", "VmHWM", "CPU/event", "broker/ev")
	for _, r := range rows {
		ratio := "-"
		if r.ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.ratio)
		}
		fmt.Printf("%-12s %10.0f %7s %12.0f %9v %9v %4.0f%% %10s %10s %10s %10s\n", r.name, r.rate, ratio,
			r.halfRate, r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond), 100*r.busy,
			kib(r.rssKiB), kib(r.hwmKiB), perEvent(r.cpuPerEvent), perEvent(r.brokerCPUPerEvent))
	}
	fmt.Println("aims: AtLeastOnce ratio >= 0.70, ExactlyOnce >= 0.40, p99 < 50ms at half peak, " +
		"worker memory < 100 MiB at steady state (VmRSS)")
	fmt.Println("busy: share of the machine's CPU in use while the latencies were measured; " +
		"CPU/event and broker/ev: CPU time of the worker and of the broker per event of the run")
}

// printMedians prints, per pipe, the median of every column over the rounds.
func printMedians(rounds [][]result) {
	var rows []result
	for i, first := range rounds[0] {
		var col []result
		for _, round := range rounds {
			col = append(col, round[i])
		}
		rows = append(rows, result{name: first.name,
			rate:     median(col, func(r result) float64 { return r.rate }),
			ratio:    median(col, func(r result) float64 { return r.ratio }),
			halfRate: median(col, func(r result) float64 { return r.halfRate }),
			p50:      time.Duration(median(col, func(r result) float64 { return float64(r.p50) })),
			p99:      time.Duration(median(col, func(r result) float64 { return float64(r.p99) })),
			rssKiB:   int64(median(col, func(r result) float64 { return float64(r.rssKiB) })),
			hwmKiB:   int64(median(col, func(r result) float64 { return float64(r.hwmKiB) })),
			cpuPerEvent: time.Duration(median(col, func(r result) float64 {
				return float64(r.cpuPerEvent)
			})),
			brokerCPUPerEvent: time.Duration(median(col, func(r result) float64 {
				return float64(r.brokerCPUPerEvent)
			})),
			busy: median(col, func(r result) float64 { return r.busy }),
		})
	}
	printRows(rows)
}

// median is the middle value of f over rs (the upper middle of an even count).
func median(rs []result, f func(result) float64) float64 {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = f(r)
	}
	sort.Float64s(vs)
	return vs[len(vs)/2]
}

func perEvent(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(100 * time.Nanosecond).String()
}

func kib(v int64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatInt(v, 10) + " kB"
}

// run measures one pipe: preload, drain at peak, then half of the peak.
func run(o options, scenario, dir string) (result, error) {
	broker := brokerPID()
	brokerCPU := cpuTime(broker)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	in, out, dlq := "bench.in."+suffix, "bench.out."+suffix, "bench.dlq."+suffix
	if err := createTopics(o, in, out, dlq); err != nil {
		return result{}, err
	}
	defer deleteBenchTopics(o)
	producer, err := newProducer(o)
	if err != nil {
		return result{}, err
	}
	defer func() { _ = producer.Close() }()
	if err := preload(producer, o, in); err != nil {
		return result{}, err
	}

	reader, err := newReader(o, out, scenario == config.ExactlyOnce)
	if err != nil {
		return result{}, err
	}
	defer reader.close()

	stop, pid, err := startPipe(o, scenario, in, out, dlq, dir)
	if err != nil {
		return result{}, err
	}
	defer stop()

	r := result{name: scenario}
	first, last, err := reader.wait(o.events, o.timeout)
	if err != nil {
		return result{}, fmt.Errorf("peak run: %w", err)
	}
	r.rate = float64(o.events-1) / last.Sub(first).Seconds()

	r.halfRate = r.rate / 2
	if o.steadyRate > 0 {
		r.halfRate = o.steadyRate
	}
	load, err := paced(producer, o, in, r.halfRate, reader.reset)
	if err != nil {
		return result{}, err
	}
	r.busy = load.busy
	if _, _, err := reader.wait(load.counted, o.timeout); err != nil {
		return result{}, fmt.Errorf("half-peak run: %w", err)
	}
	r.p50, r.p99 = reader.percentiles()
	if pid > 0 {
		r.rssKiB, r.hwmKiB = memory(pid)
		r.cpuPerEvent = cpuTime(pid) / time.Duration(o.events+load.sent)
	}
	if broker > 0 {
		r.brokerCPUPerEvent = (cpuTime(broker) - brokerCPU) / time.Duration(o.events+load.sent)
	}
	return r, nil
}

func createTopics(o options, names ...string) error {
	admin, err := kafka.NewClusterAdmin(o.kc)
	if err != nil {
		return err
	}
	defer func() { _ = admin.Close() }()
	for _, n := range names {
		if err := admin.CreateTopic(n, &sarama.TopicDetail{NumPartitions: o.partitions,
			ReplicationFactor: 1}, false); err != nil {
			return fmt.Errorf("create topic %s: %w", n, err)
		}
	}
	return nil
}

// deleteBenchTopics deletes every topic of the runs so far, the dedup
// changelogs the workers created included: each run writes about half a
// gigabyte, and a broker carrying the logs of the runs before measures slower
// for every later one.
func deleteBenchTopics(o options) {
	admin, err := kafka.NewClusterAdmin(o.kc)
	if err != nil {
		fmt.Println("bench-worker: cannot delete the topics of a run:", err)
		return
	}
	defer func() { _ = admin.Close() }()
	topics, err := admin.ListTopics()
	if err != nil {
		fmt.Println("bench-worker: cannot list the topics of a run:", err)
		return
	}
	for name := range topics {
		if strings.HasPrefix(name, "bench.") {
			if err := admin.DeleteTopic(name); err != nil {
				fmt.Println("bench-worker: cannot delete topic", name+":", err)
			}
		}
	}
}

func newProducer(o options) (sarama.AsyncProducer, error) {
	sc, err := o.kc.Sarama()
	if err != nil {
		return nil, err
	}
	sc.Producer.Flush.Bytes = 512 << 10
	sc.Producer.Flush.Frequency = time.Millisecond
	sc.ChannelBufferSize = 4096
	p, err := sarama.NewAsyncProducer(o.kc.BootstrapServers, sc)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// template is one encoded 1 KiB CloudEvent. The load generator stamps a copy
// of it per event rather than encoding each: on a small machine the encoding
// would take CPU from the pipe under test and make the pacing uneven.
type template struct {
	topic   string
	value   []byte
	headers []sarama.RecordHeader
	id      int // index of the ce_id header
	sent    int // index of the benchsent header
}

func newTemplate(topic string, size int) (*template, error) {
	e := cloudevents.NewEvent()
	e.SetID("template")
	e.SetSource("bench")
	e.SetType("com.example.bench")
	e.SetExtension(sentExtension, "0")
	if err := e.SetData(cloudevents.ApplicationJSON, map[string]string{"pad": strings.Repeat("x", size-10)}); err != nil {
		return nil, err
	}
	pm := &sarama.ProducerMessage{Topic: topic}
	ctx := binding.WithForceBinary(context.Background())
	if err := kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(&e), pm); err != nil {
		return nil, err
	}
	value, err := pm.Value.Encode()
	if err != nil {
		return nil, err
	}
	t := &template{topic: topic, value: value, headers: pm.Headers, id: -1, sent: -1}
	for i, h := range pm.Headers {
		switch string(h.Key) {
		case "ce_id":
			t.id = i
		case "ce_" + sentExtension:
			t.sent = i
		}
	}
	if t.id < 0 || t.sent < 0 {
		return nil, errors.New("encoded template lacks the ce_id or benchsent header")
	}
	return t, nil
}

// message is the template with its own id, stamped with the current time.
func (t *template) message(id string) *sarama.ProducerMessage {
	headers := append([]sarama.RecordHeader(nil), t.headers...)
	headers[t.id].Value = []byte(id)
	headers[t.sent].Value = strconv.AppendInt(nil, time.Now().UnixNano(), 10)
	return &sarama.ProducerMessage{Topic: t.topic, Key: sarama.StringEncoder(id),
		Value: sarama.ByteEncoder(t.value), Headers: headers}
}

// send writes n messages and waits for their acknowledgements.
func send(p sarama.AsyncProducer, topic, prefix string, n, size int) error {
	errs := make(chan error, 1)
	go func() {
		var first error
		for i := 0; i < n; i++ {
			select {
			case <-p.Successes():
			case pe := <-p.Errors():
				if first == nil {
					first = pe.Err
				}
			}
		}
		errs <- first
	}()
	t, err := newTemplate(topic, size)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		p.Input() <- t.message(prefix + "-" + strconv.Itoa(i))
	}
	return <-errs
}

func preload(p sarama.AsyncProducer, o options, topic string) error {
	return send(p, topic, "peak", o.events, o.size)
}

// pacing is what a paced load did: the events sent after the settling
// time, which count, the events sent in all, and the share of the machine's
// CPU time that was busy while the counted ones were sent.
type pacing struct {
	counted, sent int
	busy          float64
}

// paced produces at rate events/s for o.settle and then o.steady; at the
// start it calls measure with the time from which events count. Each event
// is sent when its turn on an even schedule comes, checked every
// millisecond, so the load arrives in bursts of at most a millisecond's
// worth.
func paced(p sarama.AsyncProducer, o options, topic string, rate float64, measure func(time.Time)) (pacing, error) {
	t, err := newTemplate(topic, o.size)
	if err != nil {
		return pacing{}, err
	}
	ticker := time.NewTicker(time.Millisecond)
	defer ticker.Stop()
	sent := 0
	acks := make(chan error, 1)
	settling := int(rate * o.settle.Seconds())
	total := settling + int(rate*o.steady.Seconds())
	go func() {
		var first error
		for i := 0; i < total; i++ {
			select {
			case <-p.Successes():
			case pe := <-p.Errors():
				if first == nil {
					first = pe.Err
				}
			}
		}
		acks <- first
	}()
	start := time.Now()
	measure(start.Add(o.settle))
	var from cpuSample
	for sent < total {
		<-ticker.C
		due := min(total, int(time.Since(start).Seconds()*rate))
		if sent < settling && due >= settling {
			from = machineCPU()
		}
		for ; sent < due; sent++ {
			p.Input() <- t.message("half-" + strconv.Itoa(sent))
		}
	}
	return pacing{counted: total - settling, sent: total, busy: machineCPU().busySince(from)}, <-acks
}

// memory returns VmRSS and VmHWM of a process in KiB, 0 when unreadable.
func memory(pid int) (int64, int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	var rss, hwm int64
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm
}

// startPipe starts the baseline in this process or the worker as a process.
func startPipe(o options, scenario, in, out, dlq, dir string) (func(), int, error) {
	group := "bench.group." + strconv.FormatInt(time.Now().UnixNano(), 36)
	if scenario == "baseline" {
		stop, err := startBaseline(o, in, out, group)
		return stop, 0, err
	}
	w := config.Worker{Consumer: "bench/" + scenario, ConsumerGroup: group, InputTopic: in,
		InitialOffset: config.Earliest, Outputs: map[string]string{"out": out}, DeadLetterTopic: dlq,
		Delivery: config.Defaults, Settings: json.RawMessage(`{"defaultOutput": "out"}`)}
	w.Delivery.Guarantee = scenario
	if scenario == config.Idempotent {
		w.DedupTopic = "bench.dedup." + group
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, 0, err
	}
	path := filepath.Join(dir, scenario+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, 0, err
	}
	logPath := filepath.Join(dir, scenario+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, 0, err
	}
	cmd := exec.Command(o.binary, "--processor=passthrough", "--config="+path,
		"--kafka-bootstrap-servers="+strings.Join(o.kc.BootstrapServers, ","),
		"--health-probe-bind-address=0", "--metrics-bind-address=0")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, 0, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		_ = logFile.Close()
	}
	return stop, cmd.Process.Pid, nil
}
