package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/IBM/sarama/mocks"
	"github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eventpipe/eventpipe/workers/config"
)

func TestDeliveryErrorNamesTheCause(t *testing.T) {
	tooLarge := sarama.ProducerErrors{
		{Msg: &sarama.ProducerMessage{Topic: "orders"}, Err: sarama.ErrMessageSizeTooLarge},
		{Msg: &sarama.ProducerMessage{Topic: "orders"}, Err: sarama.ErrMessageSizeTooLarge},
	}
	other := errors.New("circuit breaker is open")
	tests := []struct {
		name      string
		err       error
		wantText  string
		wantCause error
	}{
		{name: "producer errors", err: tooLarge,
			wantText: "2 messages not delivered, the first to topic orders: " +
				sarama.ErrMessageSizeTooLarge.Error(),
			wantCause: sarama.ErrMessageSizeTooLarge},
		{name: "other error", err: other, wantText: other.Error(), wantCause: other},
		{name: "no message failed", err: sarama.ProducerErrors{}, wantText: sarama.ProducerErrors{}.Error()},
	}
	for _, tt := range tests {
		got := deliveryError(tt.err)
		if got.Error() != tt.wantText {
			t.Errorf("%s: deliveryError = %q, want %q", tt.name, got.Error(), tt.wantText)
		}
		if tt.wantCause != nil && !errors.Is(got, tt.wantCause) {
			t.Errorf("%s: deliveryError = %v, want it to wrap %v", tt.name, got, tt.wantCause)
		}
	}
}

// fakeSession is the part of a consumer group session the acker uses: it
// records the offsets marked.
type fakeSession struct {
	sarama.ConsumerGroupSession
	context func() context.Context
	mu      sync.Mutex
	marked  []int64
}

func (s *fakeSession) Context() context.Context { return s.context() }
func (s *fakeSession) Commit()                  {}
func (s *fakeSession) MarkOffset(_ string, _ int32, offset int64, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marked = append(s.marked, offset)
}

func (s *fakeSession) marks() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.marked...)
}

type fakeClaim struct{ sarama.ConsumerGroupClaim }

func (fakeClaim) Topic() string              { return "in" }
func (fakeClaim) Partition() int32           { return 0 }
func (fakeClaim) HighWaterMarkOffset() int64 { return 3 }

// batchOf is a batch of one input at offset whose one output has value.
func batchOf(offset int64, value string) []handled {
	return []handled{{msg: &sarama.ConsumerMessage{Topic: "in", Offset: offset},
		outputs: []*sarama.ProducerMessage{{Topic: "out", Value: sarama.StringEncoder(value)}}}}
}

// TestAckerRewritesAFailedBatchInOrder fails the output of a batch twice
// while the next batch is already written, and checks that the acker writes
// the failed batch again inside the claim and then the next one again after
// it, so their outputs end in input order; that it marks both only then, in
// order; that /readyz says why meanwhile; and that once it has caught up the
// next batch is written once, by commit.
func TestAckerRewritesAFailedBatchInOrder(t *testing.T) {
	cfg := sarama.NewConfig()
	cfg.Producer.Return.Successes = true
	producer := mocks.NewAsyncProducer(t, cfg)
	var mu sync.Mutex
	var written []string
	bothCommitted := make(chan struct{})
	expect := func(value string, fail bool, before <-chan struct{}) {
		check := func(m *sarama.ProducerMessage) error {
			if before != nil {
				<-before
			}
			b, _ := m.Value.Encode()
			mu.Lock()
			written = append(written, string(b))
			mu.Unlock()
			if string(b) != value {
				return fmt.Errorf("wrote %q, want %q", b, value)
			}
			return nil
		}
		if fail {
			producer.ExpectInputWithMessageCheckerFunctionAndFail(check, sarama.ErrMessageSizeTooLarge)
		} else {
			producer.ExpectInputWithMessageCheckerFunctionAndSucceed(check)
		}
	}
	expect("a", true, bothCommitted) // b is written before a fails
	expect("b", false, nil)
	expect("a", true, nil)
	expect("a", false, nil)
	expect("b", false, nil) // again, after a
	expect("c", false, nil)

	r := &Runner{opts: Options{Worker: config.Worker{InputTopic: "in"}}, health: newHealth(),
		backoff: backoff{initial: time.Millisecond, max: 2 * time.Millisecond},
		metrics: newMetrics("in", nil), producer: producer}
	r.health.setJoined(true)
	routed := make(chan struct{})
	go routeAcks(producer, routed)
	ctx := context.Background()
	session := &fakeSession{context: func() context.Context { return ctx }}
	a := r.newAcker(ctx, session, fakeClaim{})

	for i, value := range []string{"a", "b"} {
		if err := a.commit(ctx, session, fakeClaim{}, batchOf(int64(i), value)); err != nil {
			t.Fatalf("commit(%s) = %v", value, err)
		}
	}
	close(bothCommitted)
	waitFor(t, func() bool { return len(session.marks()) == 2 }, "both batches marked")
	if got := session.marks(); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("marked %v, want [1 2]", got)
	}
	if reason := r.health.notReady(); reason != "" {
		t.Errorf("/readyz after the rewrite = %q, want ok", reason)
	}
	if err := a.commit(ctx, session, fakeClaim{}, batchOf(2, "c")); err != nil {
		t.Fatalf("commit(c) = %v", err)
	}
	if err := a.finish(); err != nil {
		t.Fatalf("finish() = %v", err)
	}
	if err := producer.Close(); err != nil {
		t.Fatal(err)
	}
	<-routed
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"a", "b", "a", "a", "b", "c"}; !slices.Equal(written, want) {
		t.Errorf("outputs written in the order %v, want %v", written, want)
	}
	if got := session.marks(); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("marked %v, want [1 2 3]", got)
	}
	if got := testutil.ToFloat64(r.metrics.inWriteFailed); got != 2 {
		t.Errorf("write failures counted = %v, want 2", got)
	}
}

// TestAckerReportsAHeldPartition checks /readyz while a batch cannot be
// written, and that the end of the session ends the rewrite with the error.
func TestAckerReportsAHeldPartition(t *testing.T) {
	cfg := sarama.NewConfig()
	cfg.Producer.Return.Successes = true
	producer := mocks.NewAsyncProducer(t, cfg)
	producer.ExpectInputAndFail(sarama.ErrMessageSizeTooLarge)
	// A jittered wait of up to an hour: the session ends during the first.
	r := &Runner{opts: Options{Worker: config.Worker{InputTopic: "in"}}, health: newHealth(),
		backoff: backoff{initial: time.Hour, max: time.Hour},
		metrics: newMetrics("in", nil), producer: producer}
	r.health.setJoined(true)
	routed := make(chan struct{})
	go routeAcks(producer, routed)
	ctx, cancel := context.WithCancel(context.Background())
	session := &fakeSession{context: func() context.Context { return ctx }}
	a := r.newAcker(context.Background(), session, fakeClaim{})
	if err := a.commit(ctx, session, fakeClaim{}, batchOf(0, "big")); err != nil {
		t.Fatalf("commit() = %v", err)
	}
	waitFor(t, func() bool { return r.health.notReady() != "" }, "the partition reported held")
	reason := r.health.notReady()
	for _, want := range []string{"partition 0 stopped", "offset 0", sarama.ErrMessageSizeTooLarge.Error(),
		"writing it again"} {
		if !strings.Contains(reason, want) {
			t.Errorf("/readyz = %q, want it to contain %q", reason, want)
		}
	}
	cancel()
	if err := a.finish(); !errors.Is(err, sarama.ErrMessageSizeTooLarge) {
		t.Errorf("finish() after the session ended = %v, want the write failure", err)
	}
	if got := session.marks(); len(got) != 0 {
		t.Errorf("marked %v, want nothing", got)
	}
	_ = producer.Close()
	<-routed
}

// ackTimeout bounds the wait for the acker's goroutine to land or report a
// batch, which takes milliseconds with the mock producer.
const ackTimeout = 5 * time.Second

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	gomega.NewWithT(t).Eventually(cond).WithTimeout(ackTimeout).WithPolling(time.Millisecond).
		Should(gomega.BeTrue(), "waiting for %s", what)
}
