package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// commitInterval spaces the offset commits of a partition: an offset is only
// marked once its outputs are acknowledged, so committing less often costs
// repeated outputs after a crash, never lost ones, and saves a round trip per
// batch. The claim commits what is marked when it ends.
const commitInterval = 100 * time.Millisecond

// ackWindow is the most batches of one partition whose outputs may wait for
// their acknowledgements at once. The partition processes the next batch
// while earlier ones are in flight, so the round trips to the brokers overlap
// the processing instead of adding to it.
const ackWindow = 4

// flight is one batch whose outputs the producer is writing.
type flight struct {
	events []handled
	keys   []string
	// next is the offset to mark once the batch is safe: the one after its
	// last event.
	next int64

	mu      sync.Mutex
	pending int
	err     error
	acked   chan struct{} // closed when every output is acknowledged or failed
}

func newFlight(events []handled, outputs int) *flight {
	f := &flight{events: events, next: events[len(events)-1].msg.Offset + 1,
		pending: outputs, acked: make(chan struct{})}
	for _, h := range events {
		if h.dedupKey != "" {
			f.keys = append(f.keys, h.dedupKey)
		}
	}
	if outputs == 0 {
		close(f.acked)
	}
	return f
}

// ack records the acknowledgement, or the failure, of one output.
func (f *flight) ack(err error) {
	f.mu.Lock()
	if err != nil && f.err == nil {
		f.err = err
	}
	f.pending--
	last := f.pending == 0
	f.mu.Unlock()
	if last {
		close(f.acked)
	}
}

// routeAcks hands every acknowledgement and failure of the output producer
// to the flight its message belongs to, until the producer is closed.
func routeAcks(p sarama.AsyncProducer, done chan<- struct{}) {
	defer close(done)
	successes, errs := p.Successes(), p.Errors()
	for successes != nil || errs != nil {
		select {
		case m, ok := <-successes:
			if !ok {
				successes = nil
				continue
			}
			m.Metadata.(*flight).ack(nil)
		case pe, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			pe.Msg.Metadata.(*flight).ack(pe.Err)
		}
	}
}

// acker commits batches the AtLeastOnce way, pipelined: the partition hands
// it the outputs of a batch and goes on with the next while up to ackWindow
// batches wait for their acknowledgements. Its own goroutine lands the
// batches in offset order: once every output of a batch is acknowledged it
// records the batch's dedup keys (Idempotent), then marks the offset after
// the batch, so an offset is marked only when it and all before it are safe.
// A crash in between repeats outputs; it never loses one.
//
// A write the producer gave up on stops the marking there: later batches are
// still awaited but not marked, and the claim ends with the error, so the
// next owner of the partition (this worker, after rejoining) starts again
// after the last safe batch.
type acker struct {
	r       *Runner
	store   *dedupStore
	session sarama.ConsumerGroupSession
	claim   sarama.ConsumerGroupClaim

	flights  chan *flight
	done     chan struct{}
	failed   chan struct{}
	err      error // set before failed is closed
	finished bool
}

func (r *Runner) newAcker(
	ctx context.Context, session sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim,
) *acker {
	a := &acker{r: r, store: r.changelog.store(claim.Partition()), session: session, claim: claim,
		flights: make(chan *flight, ackWindow-1), done: make(chan struct{}),
		failed: make(chan struct{})}
	go a.land(ctx)
	return a
}

func (a *acker) dedup() *dedupStore { return a.store }

// idle does nothing: the acker's goroutine commits on its own clock.
func (a *acker) idle(sarama.ConsumerGroupSession) {}

func (a *acker) failure() <-chan struct{} { return a.failed }

// commit hands the outputs of a batch to the producer, waiting only when
// ackWindow batches are already in flight.
func (a *acker) commit(
	_ context.Context,
	_ sarama.ConsumerGroupSession,
	_ sarama.ConsumerGroupClaim,
	events []handled,
) error {
	n := 0
	for _, h := range events {
		n += len(h.outputs)
	}
	f := newFlight(events, n)
	select {
	case a.flights <- f:
	case <-a.failed:
		return a.err
	}
	for _, h := range events {
		for _, m := range h.outputs {
			m.Metadata = f
			a.r.producer.Input() <- m
		}
	}
	return nil
}

// finish waits for the batches in flight, lands them and commits. It returns
// the write failure that stopped the marking, if any. Calling it again only
// returns that failure again.
func (a *acker) finish() error {
	if !a.finished {
		a.finished = true
		close(a.flights)
		<-a.done
	}
	select {
	case <-a.failed:
		return a.err
	default:
		return nil
	}
}

// land marks the batches in order as they become safe and commits the marks
// every commitInterval, until the flights channel is closed and drained.
func (a *acker) land(ctx context.Context) {
	defer close(a.done)
	ticker := time.NewTicker(commitInterval)
	defer ticker.Stop()
	dirty := false
	for {
		select {
		case f, ok := <-a.flights:
			if !ok {
				if dirty {
					a.session.Commit()
				}
				return
			}
			if a.settle(ctx, f) {
				dirty = true
			}
		case <-ticker.C:
			if dirty {
				a.session.Commit()
				dirty = false
			}
		}
	}
}

// settle waits for a batch's acknowledgements and marks it, reporting
// whether it marked. After a failure nothing more is marked.
func (a *acker) settle(ctx context.Context, f *flight) bool {
	<-f.acked
	select {
	case <-a.failed:
		return false
	default:
	}
	if f.err != nil {
		a.fail(fmt.Errorf("write outputs from offset %d: %w", f.events[0].msg.Offset, f.err))
		return false
	}
	// Only after the outputs are safe: an event recorded but not written
	// would be skipped as a duplicate by the next owner.
	if len(f.keys) > 0 {
		err := a.r.changelog.write(ctx, a.r, a.session, a.claim.Partition(), f.keys)
		if err != nil {
			a.fail(fmt.Errorf("write dedup changelog: %w", err))
			return false
		}
	}
	a.session.MarkOffset(a.claim.Topic(), a.claim.Partition(), f.next, "")
	a.r.committed(a.claim, f.events)
	return true
}

func (a *acker) fail(err error) {
	if a.session.Context().Err() != nil {
		log.FromContext(a.session.Context()).Info("Session ended before a batch was safe; "+
			"the partition's next owner carries on", "error", err.Error())
	}
	a.err = err
	close(a.failed)
}

// send writes msgs and waits for their acknowledgements, writing again the
// ones that failed, with backoff, until all succeed or the session ends.
func (r *Runner) send(
	ctx context.Context,
	session sarama.ConsumerGroupSession,
	producer sarama.SyncProducer,
	msgs []*sarama.ProducerMessage,
) error {
	for attempt := 1; len(msgs) > 0; attempt++ {
		err := producer.SendMessages(msgs)
		if err == nil {
			return nil
		}
		var perrs sarama.ProducerErrors
		if errors.As(err, &perrs) {
			msgs = msgs[:0:0]
			for _, pe := range perrs {
				msgs = append(msgs, copyMessage(pe.Msg))
			}
		} else {
			msgs = copyMessages(msgs)
		}
		wait := r.backoff.wait(attempt)
		log.FromContext(ctx).Error(deliveryError(err), "Cannot write events; retrying", "events", len(msgs),
			"attempt", attempt, "wait", wait)
		if !sleep(session.Context(), wait) {
			return err
		}
	}
	return nil
}

// deliveryError is err with the cause of its first failed message: the error
// of a SyncProducer says only how many messages failed, and a retry loop
// that logs or reports it would never say why.
func deliveryError(err error) error {
	var perrs sarama.ProducerErrors
	if !errors.As(err, &perrs) || len(perrs) == 0 {
		return err
	}
	first := perrs[0]
	return fmt.Errorf("%d messages not delivered, the first to topic %s: %w", len(perrs), first.Msg.Topic,
		first.Err)
}

// copyMessage is a fresh message with the content of one sarama has used.
func copyMessage(m *sarama.ProducerMessage) *sarama.ProducerMessage {
	return &sarama.ProducerMessage{Topic: m.Topic, Key: m.Key, Value: m.Value,
		Headers: m.Headers, Partition: m.Partition}
}

func copyMessages(msgs []*sarama.ProducerMessage) []*sarama.ProducerMessage {
	out := make([]*sarama.ProducerMessage, len(msgs))
	for i, m := range msgs {
		out[i] = copyMessage(m)
	}
	return out
}
