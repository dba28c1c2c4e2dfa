package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/eventpipe/eventpipe/workers/processor"
)

// handled is one input event whose outputs are ready to be written.
type handled struct {
	msg     *sarama.ConsumerMessage
	outputs []*sarama.ProducerMessage
	// dedupKey is set when the event must be recorded in the dedup changelog.
	dedupKey string
	// deadLetter is set when the outputs are the event's dead letter.
	deadLetter *deadLetter
	duplicate  bool
	read       time.Time
}

// outcome says whether a partition goes on after an event.
type outcome int

const (
	// outcomeDone: the event is handled; go on.
	outcomeDone outcome = iota
	// outcomeGaveUp: the session ended while the event was being retried; it
	// stays uncommitted for the partition's next owner.
	outcomeGaveUp
	// outcomeStop: the event must be dead-lettered but there is no dead-letter
	// topic; the partition stops before it.
	outcomeStop
)

// committer makes the outputs of a batch durable and then commits the input
// offset after its last event: acknowledgements then a commit (AtLeastOnce,
// Idempotent, pipelined over several batches) or one transaction
// (ExactlyOnce). It updates the metrics of a batch once the batch is safe.
type committer interface {
	commit(ctx context.Context, session sarama.ConsumerGroupSession,
		claim sarama.ConsumerGroupClaim, events []handled) error
	// dedup is the partition's dedup store, nil without the Idempotent guarantee.
	dedup() *dedupStore
	// idle is called while the partition waits for events.
	idle(session sarama.ConsumerGroupSession)
	// failure is closed once a batch can no longer become safe; nil when
	// commit reports every failure itself.
	failure() <-chan struct{}
	// finish waits for the batches still in flight when the claim ends.
	finish() error
}

// handleBatch processes a batch in order and commits the events handled. It
// returns false when the partition must not go on in this session.
func (r *Runner) handleBatch(
	ctx context.Context,
	session sarama.ConsumerGroupSession,
	claim sarama.ConsumerGroupClaim,
	commit committer,
	batch []*sarama.ConsumerMessage,
) (bool, error) {
	read := time.Now()
	// The backlog from this batch on, so that a partition that cannot get
	// past it still shows its lag; committed lowers it as batches land.
	r.metrics.setLag(claim.Topic(), claim.Partition(), claim.HighWaterMarkOffset()-batch[0].Offset)
	done := make([]handled, 0, len(batch))
	result := outcomeDone
	var stopped handled
	// An event in flight is finished even when a shutdown ends the session.
	procCtx := context.WithoutCancel(ctx)
	for _, msg := range batch {
		h, out := r.processOne(procCtx, session, commit.dedup(), msg)
		h.read = read
		if out != outcomeDone {
			result, stopped = out, h
			break
		}
		done = append(done, h)
	}

	if len(done) > 0 {
		if err := commit.commit(ctx, session, claim, done); err != nil {
			if session.Context().Err() != nil {
				log.FromContext(ctx).Info("Session ended before a batch was committed; "+
					"the partition's next owner carries on", "fromOffset", done[0].msg.Offset)
				return false, nil
			}
			return false, err
		}
	}

	switch result {
	case outcomeGaveUp:
		log.FromContext(ctx).Info("Session ended while retrying an event; left uncommitted",
			"offset", stopped.msg.Offset)
		return false, nil
	case outcomeStop:
		// The batches before the event land first: landing one marks the
		// partition as flowing again.
		if err := commit.finish(); err != nil && session.Context().Err() == nil {
			return false, err
		}
		r.stopPartition(ctx, stopped)
		return false, nil
	}
	return true, nil
}

// committed updates metrics and health once a batch is safe.
func (r *Runner) committed(claim sarama.ConsumerGroupClaim, done []handled) {
	topic := claim.Topic()
	now := time.Now()
	for _, h := range done {
		switch {
		case h.deadLetter != nil:
			r.metrics.deadLettered.WithLabelValues(topic, string(h.deadLetter.reason)).Inc()
		case h.duplicate:
			r.metrics.inDuplicates.Inc()
		default:
			r.metrics.inProcessed.Inc()
		}
		r.metrics.inLatency.Observe(now.Sub(h.read).Seconds())
	}
	last := done[len(done)-1].msg
	r.metrics.setLag(topic, claim.Partition(), claim.HighWaterMarkOffset()-last.Offset-1)
	r.health.resume(claim.Partition())
}

// stopPartition reports an event that should have been dead-lettered.
func (r *Runner) stopPartition(ctx context.Context, h handled) {
	dl := h.deadLetter
	log.FromContext(ctx).Error(dl.err, "No dead-letter topic: stopped consuming the partition "+
		"before an event it cannot handle", "offset", h.msg.Offset, "reason", dl.reason,
		"attempts", dl.attempts)
	r.health.stop(h.msg.Partition, fmt.Sprintf("event at offset %d: %s after %d attempts: %v; "+
		"no dead-letter topic is configured", h.msg.Offset, dl.reason, dl.attempts, dl.err))
}

// processOne decodes, upcasts, deduplicates and processes one event, with
// retries, and encodes its outputs or its dead letter.
func (r *Runner) processOne(
	ctx context.Context,
	session sarama.ConsumerGroupSession,
	store *dedupStore,
	msg *sarama.ConsumerMessage,
) (handled, outcome) {
	r.metrics.inConsumed.Inc()
	h := handled{msg: msg}

	event, err := decode(msg)
	if de := (*decodeError)(nil); errors.As(err, &de) {
		return r.deadLetter(ctx, h, deadLetter{reason: de.reason, err: de.err})
	}
	if err := r.opts.Definition.Upcasters.Upcast(&event); err != nil {
		return r.deadLetter(ctx, h, deadLetter{reason: ReasonUnknownSchemaVersion, err: err})
	}

	now := time.Now()
	if store != nil {
		h.dedupKey = dedupKey(r.opts.Worker.ConsumerGroup, event.Source(), event.ID())
		if store.seen(h.dedupKey, now) {
			h.dedupKey, h.duplicate = "", true
			return h, outcomeDone
		}
	}

	outs, attempts, dl, out := r.processWithRetries(ctx, session, event)
	if out != outcomeDone {
		h.dedupKey = ""
		return h, out
	}
	if dl != nil {
		h, out = r.deadLetter(ctx, h, *dl)
	} else if h.outputs, err = r.encodeOutputs(outs); err != nil {
		h, out = r.deadLetter(ctx, h, deadLetter{reason: ReasonInvalidOutput, err: err,
			attempts: attempts})
	}
	if out == outcomeDone && store != nil {
		ttl := r.opts.Worker.Delivery.DedupTTL.Duration
		if ev := store.record(h.dedupKey, now.Add(ttl), now); ev.keys > 0 {
			r.reportEviction(ctx, ev, ttl, now)
		}
	}
	return h, out
}

// reportEviction tells that the dedup store of a partition reached its
// bound and forgot the keys nearest expiry: duplicates of events older than
// the window left are no longer caught.
func (r *Runner) reportEviction(ctx context.Context, ev eviction, ttl time.Duration, now time.Time) {
	r.metrics.dedupEvicted.Add(float64(ev.keys))
	window := max(ttl-ev.before.Sub(now), 0)
	log.FromContext(ctx).Info("Dedup store at its bound: forgot the event ids nearest expiry; "+
		"raise delivery.dedupMaxKeys (and the memory limit) or lower dedupTTL to keep the whole window",
		"forgotten", ev.keys, "dedupMaxKeys", r.opts.Worker.Delivery.DedupMaxKeys,
		"dedupTTL", ttl.String(), "windowLeft", window.Round(time.Second).String())
}

// processWithRetries calls the processor until it succeeds, fails for good,
// runs out of attempts or the session ends. A non-nil deadLetter means the
// event must be dead-lettered. ctx is the batch's, which a shutdown does not
// cancel.
func (r *Runner) processWithRetries(
	ctx context.Context,
	session sarama.ConsumerGroupSession,
	event cloudevents.Event,
) ([]processor.Output, int, *deadLetter, outcome) {
	maxAttempts := r.opts.Worker.Delivery.MaxAttempts
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			r.metrics.inRetried.Inc()
		}
		outs, err := r.opts.Processor.Process(ctx, event)
		if err == nil {
			return outs, attempt, nil, outcomeDone
		}
		r.metrics.inFailed.Inc()
		if !processor.IsRetryable(err) {
			return nil, attempt, &deadLetter{reason: ReasonProcessorError, err: err,
				attempts: attempt}, outcomeDone
		}
		if attempt >= maxAttempts {
			return nil, attempt, &deadLetter{reason: ReasonRetriesExhausted, err: err,
				attempts: attempt}, outcomeDone
		}
		wait := r.backoff.wait(attempt)
		log.FromContext(ctx).V(1).Info("Retrying event", "id", event.ID(), "attempt", attempt,
			"wait", wait, "error", err.Error())
		if !sleep(session.Context(), wait) {
			return nil, attempt, nil, outcomeGaveUp
		}
	}
}

// sleep waits d or until ctx ends, reporting whether it waited the whole time.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (r *Runner) encodeOutputs(outs []processor.Output) ([]*sarama.ProducerMessage, error) {
	msgs := make([]*sarama.ProducerMessage, 0, len(outs))
	for _, out := range outs {
		topic, ok := r.opts.Worker.Outputs[out.Name]
		if !ok {
			return nil, fmt.Errorf("processor emitted to output %q, which the Consumer lacks", out.Name)
		}
		pm, err := encode(out, topic)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, pm)
	}
	return msgs, nil
}

// deadLetter routes an event to the dead-letter topic, or stops the
// partition when there is none.
func (r *Runner) deadLetter(ctx context.Context, h handled, dl deadLetter) (handled, outcome) {
	h.deadLetter = &dl
	h.outputs = nil
	topic := r.opts.Worker.DeadLetterTopic
	if topic == "" {
		return h, outcomeStop
	}
	log.FromContext(ctx).Info("Dead-lettering an event", "offset", h.msg.Offset,
		"reason", dl.reason, "attempts", dl.attempts, "error", fmt.Sprint(dl.err))
	h.outputs = []*sarama.ProducerMessage{deadLetterMessage(h.msg, dl, topic, r.opts.Worker.Consumer)}
	return h, outcomeDone
}
