package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// acker commits a batch the AtLeastOnce way: write every output, wait for all
// the acknowledgements, record the dedup keys (Idempotent), then mark and
// commit the offset. A crash in between repeats outputs; it never loses one.
type acker struct {
	r          *Runner
	store      *dedupStore
	lastCommit time.Time
	dirty      bool
}

// commitInterval spaces the offset commits of a partition: an offset is only
// marked once its outputs are acknowledged, so committing less often costs
// repeated outputs after a crash, never lost ones, and saves a round trip per
// batch. The claim commits what is marked when it ends.
const commitInterval = 100 * time.Millisecond

// idle commits an offset marked since the last commit.
func (a *acker) idle(session sarama.ConsumerGroupSession) {
	if a.dirty {
		a.flush(session)
	}
}

// flush commits the marked offsets of the session.
func (a *acker) flush(session sarama.ConsumerGroupSession) {
	session.Commit()
	a.lastCommit = time.Now()
	a.dirty = false
}

func (a *acker) dedup() *dedupStore { return a.store }

func (a *acker) commit(
	ctx context.Context,
	session sarama.ConsumerGroupSession,
	claim sarama.ConsumerGroupClaim,
	events []handled,
) error {
	var msgs []*sarama.ProducerMessage
	var keys []string
	for _, h := range events {
		msgs = append(msgs, h.outputs...)
		if h.dedupKey != "" {
			keys = append(keys, h.dedupKey)
		}
	}
	if err := a.r.send(ctx, session, a.r.producer, msgs); err != nil {
		return fmt.Errorf("write outputs: %w", err)
	}
	// Only after the outputs are safe: an event recorded but not written
	// would be skipped as a duplicate by the next owner.
	if len(keys) > 0 {
		if err := a.r.changelog.write(ctx, a.r, session, claim.Partition(), keys); err != nil {
			return fmt.Errorf("write dedup changelog: %w", err)
		}
	}
	session.MarkOffset(claim.Topic(), claim.Partition(), events[len(events)-1].msg.Offset+1, "")
	a.dirty = true
	if time.Since(a.lastCommit) >= commitInterval {
		a.flush(session)
	}
	return nil
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
		log.FromContext(ctx).Error(err, "Cannot write events; retrying", "events", len(msgs),
			"attempt", attempt, "wait", wait)
		if !sleep(session.Context(), wait) {
			return err
		}
	}
	return nil
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
