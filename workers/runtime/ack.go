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
	// state says who writes the outputs, under the acker's gate.
	state flightState

	mu      sync.Mutex
	pending int
	err     error
	failed  []*sarama.ProducerMessage // the outputs the producer gave up on
	acked   chan struct{}             // closed when every output is acknowledged or failed
}

// flightState is whether a batch's outputs were handed to the producer and
// by whom.
type flightState int

const (
	// flightQueued: commit has queued the batch but not written it yet.
	flightQueued flightState = iota
	// flightSent: commit wrote the outputs.
	flightSent
	// flightLeft: the acker was rewriting earlier batches, so commit left
	// the outputs for it to write, in order, after those.
	flightLeft
)

func newFlight(events []handled, outputs int) *flight {
	f := &flight{events: events, next: events[len(events)-1].msg.Offset + 1}
	for _, h := range events {
		if h.dedupKey != "" {
			f.keys = append(f.keys, h.dedupKey)
		}
	}
	f.expect(outputs)
	return f
}

// expect readies the flight to track n outputs afresh.
func (f *flight) expect(n int) {
	f.pending, f.err, f.failed, f.acked = n, nil, nil, make(chan struct{})
	if n == 0 {
		close(f.acked)
	}
}

// ack records the acknowledgement, or the failure, of one output.
func (f *flight) ack(m *sarama.ProducerMessage, err error) {
	f.mu.Lock()
	if err != nil {
		if f.err == nil {
			f.err = err
		}
		f.failed = append(f.failed, m)
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
			m.Metadata.(*flight).ack(m, nil)
		case pe, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			pe.Msg.Metadata.(*flight).ack(pe.Msg, pe.Err)
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
// An output the producer gave up on is written again by the acker, with
// backoff, until the brokers take it, inside the claim: ending the claim
// instead would rebalance the whole group at every attempt. While it
// rewrites, the acker writes every later batch itself, in order, the ones
// already written again too, so that the outputs of a key end in the order
// of their inputs, as a restart from the failed batch would leave them. The
// partition holds meanwhile (commit waits once ackWindow batches are queued)
// and says so on /readyz. Only the end of the session stops the marking
// (the dedup changelog's writes are retried until then too): the claim then
// ends with the error and the partition's next owner starts again after the
// last safe batch.
type acker struct {
	r       *Runner
	store   *dedupStore
	session sarama.ConsumerGroupSession
	claim   sarama.ConsumerGroupClaim

	flights chan *flight
	done    chan struct{}
	failed  chan struct{}
	err     error // set before failed is closed
	// gate orders commit's writes against the acker's rewrites.
	gate       sync.Mutex
	rewriting  bool // under gate
	finished   bool
	writeTries int // failed writes in a row while rewriting
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
// ackWindow batches are already in flight; while the acker rewrites earlier
// batches it leaves them to the acker.
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
	a.gate.Lock()
	defer a.gate.Unlock()
	if a.isFailed() {
		f.state = flightLeft
		return a.err
	}
	if a.rewriting || f.state != flightQueued {
		f.state = flightLeft
		return nil
	}
	f.state = flightSent
	a.write(f, f.outputs())
	return nil
}

// outputs are the messages of every event of the batch, in order.
func (f *flight) outputs() []*sarama.ProducerMessage {
	var msgs []*sarama.ProducerMessage
	for _, h := range f.events {
		msgs = append(msgs, h.outputs...)
	}
	return msgs
}

// write hands msgs to the producer, acknowledged to f.
func (a *acker) write(f *flight, msgs []*sarama.ProducerMessage) {
	for _, m := range msgs {
		m.Metadata = f
		a.r.producer.Input() <- m
	}
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

// settle waits for a batch's acknowledgements, writing it again while it
// fails, and marks it, reporting whether it marked. After a failure of the
// claim nothing more is marked.
func (a *acker) settle(ctx context.Context, f *flight) bool {
	if !a.deliver(ctx, f) {
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
	a.doneRewriting()
	return true
}

// deliver returns once every output of f is acknowledged. When a write
// fails, or the acker is already rewriting, it writes the batch (again)
// itself until the brokers take it; it returns false when the claim failed
// first, the session having ended.
func (a *acker) deliver(ctx context.Context, f *flight) bool {
	a.gate.Lock()
	rewriting, state := a.rewriting, f.state
	if state == flightQueued {
		// commit has not written it yet and will leave it to the acker.
		f.state, state = flightLeft, flightLeft
	}
	a.gate.Unlock()
	if a.isFailed() {
		// Nothing more becomes safe in this claim; what was written is only
		// waited for.
		if state == flightSent {
			<-f.acked
		}
		return false
	}

	var msgs []*sarama.ProducerMessage
	switch {
	case state == flightLeft:
		msgs = f.outputs()
		f.expect(len(msgs))
		a.write(f, msgs)
	case rewriting:
		// Written before the rewrite began: wait for it, then write it again
		// after the batches before it.
		<-f.acked
		msgs = copyMessages(f.outputs())
		f.expect(len(msgs))
		a.write(f, msgs)
	}
	for {
		<-f.acked
		if f.err == nil {
			return true
		}
		err := fmt.Errorf("write outputs from offset %d: %w", f.events[0].msg.Offset, f.err)
		if !a.waitToRewrite(ctx, f, err) {
			return false
		}
		msgs = copyMessages(f.failed)
		f.expect(len(msgs))
		a.write(f, msgs)
	}
}

// waitToRewrite reports a failed write, starts rewriting and waits with
// backoff before the next attempt. It returns false, failing the claim, when
// the session ends first.
func (a *acker) waitToRewrite(ctx context.Context, f *flight, err error) bool {
	a.gate.Lock()
	a.rewriting = true
	a.gate.Unlock()
	a.writeTries++
	a.r.metrics.inWriteFailed.Inc()
	a.r.metrics.setLag(a.claim.Topic(), a.claim.Partition(), a.claim.HighWaterMarkOffset()-f.events[0].msg.Offset)
	a.r.health.stop(a.claim.Partition(), err.Error()+"; writing it again")
	wait := a.r.backoff.wait(a.writeTries)
	log.FromContext(ctx).Error(err, "Cannot write the outputs of a batch; writing it again",
		"attempt", a.writeTries, "wait", wait.String())
	// What is marked before the batch is safe; the partition may hold here
	// for long.
	a.session.Commit()
	if !sleep(a.session.Context(), wait) {
		a.fail(err)
		return false
	}
	return true
}

// doneRewriting ends a rewrite once no batch is queued behind the one just
// landed: commit writes the next ones itself again.
func (a *acker) doneRewriting() {
	a.gate.Lock()
	defer a.gate.Unlock()
	if a.rewriting && len(a.flights) == 0 {
		a.rewriting = false
		a.writeTries = 0
	}
}

func (a *acker) isFailed() bool {
	select {
	case <-a.failed:
		return true
	default:
		return false
	}
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
