package runtime

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/eventpipe/eventpipe/workers/config"
)

// Setup runs when a session starts, before any partition is consumed: with
// the Idempotent guarantee it loads the dedup changelog of every claimed
// partition, so no event is processed against a store that forgot it.
func (r *Runner) Setup(session sarama.ConsumerGroupSession) error {
	ctx := session.Context()
	owned := session.Claims()[r.opts.Worker.InputTopic]
	log.FromContext(ctx).Info("Partitions assigned", "topic", r.opts.Worker.InputTopic,
		"partitions", owned, "generation", session.GenerationID())
	r.health.keepOnly(owned)
	if r.changelog != nil {
		if err := r.changelog.load(ctx, owned); err != nil {
			return fmt.Errorf("load dedup changelog: %w", err)
		}
	}
	// Transactional producers are created before the claims start: creating
	// one takes round trips to the coordinator, and a claim that does not
	// read its fetched messages in time stalls its partition consumer.
	if r.opts.Worker.Delivery.Guarantee == config.ExactlyOnce {
		if err := r.openTransactors(ctx, owned); err != nil {
			return err
		}
	}
	r.health.setJoined(true)
	return nil
}

// Cleanup runs when a session ends, after every ConsumeClaim has returned.
func (r *Runner) Cleanup(session sarama.ConsumerGroupSession) error {
	r.closeTransactors(session.Context())
	for _, p := range session.Claims()[r.opts.Worker.InputTopic] {
		r.metrics.dropLag(r.opts.Worker.InputTopic, p)
	}
	return nil
}

// ConsumeClaim handles one partition for the length of a session, batch by
// batch. It returns when the session ends, when the partition must stop (a
// dead letter without a dead-letter topic), or on an error that would
// otherwise skip an event.
func (r *Runner) ConsumeClaim(session sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ctx := session.Context()
	logger := log.FromContext(ctx).WithValues("topic", claim.Topic(), "partition", claim.Partition())
	ctx = log.IntoContext(ctx, logger)

	var commit committer
	if r.opts.Worker.Delivery.Guarantee == config.ExactlyOnce {
		tx, ok := r.transactor(claim.Partition())
		if !ok {
			return fmt.Errorf("no transactional producer for partition %d", claim.Partition())
		}
		commit = tx
	} else {
		commit = r.newAcker(ctx, session, claim)
	}

	logger.V(1).Info("Consuming partition", "initialOffset", claim.InitialOffset())
	err := r.consumeBatches(ctx, session, claim, commit)
	// A failure after the session ended is the next owner's to repeat.
	if ferr := commit.finish(); err == nil && session.Context().Err() == nil {
		err = ferr
	}
	if err != nil && session.Context().Err() == nil {
		r.holdFailedClaim(ctx, session, claim.Partition(), err)
	}
	return err
}

// holdFailedClaim reports on /readyz a partition whose claim ends because a
// batch cannot become safe, and waits with backoff before the claim ends.
// Output and changelog writes are retried inside the claim (by the acker,
// the transactor and send); what ends one is rarer, such as a transactional
// producer fenced by a newer owner. Ending a claim
// ends the session, and the worker rejoins at once to restart the partition
// after its last safe batch; a failure that persists would otherwise
// rebalance the group several times a second. The other partitions go on
// while it waits.
func (r *Runner) holdFailedClaim(
	ctx context.Context, session sarama.ConsumerGroupSession, partition int32, err error,
) {
	r.metrics.inWriteFailed.Inc()
	attempt := r.health.fail(partition, err.Error()+"; restarting after the last safe batch")
	wait := r.backoff.wait(attempt)
	// The error itself is logged by logGroupErrors once the claim returns it.
	log.FromContext(ctx).Info("Restarting the partition after its last safe batch",
		"attempt", attempt, "wait", wait.String())
	sleep(session.Context(), wait)
}

func (r *Runner) consumeBatches(
	ctx context.Context,
	session sarama.ConsumerGroupSession,
	claim sarama.ConsumerGroupClaim,
	commit committer,
) error {
	for {
		batch := nextBatch(session, claim, commit)
		if len(batch) == 0 {
			return nil
		}
		cont, err := r.handleBatch(ctx, session, claim, commit, batch)
		if err != nil || !cont {
			return err
		}
	}
}

// nextBatch waits for one message, then takes the ones already fetched, up to
// maxBatch. It returns nothing once the session or the claim ends, or once
// the committer failed.
// While it waits it lets the committer commit what it has marked.
func nextBatch(
	session sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim, commit committer,
) []*sarama.ConsumerMessage {
	var batch []*sarama.ConsumerMessage
	idle := time.NewTicker(commitInterval)
	defer idle.Stop()
	for len(batch) == 0 {
		select {
		case <-session.Context().Done():
			return nil
		case <-commit.failure():
			return nil
		case <-idle.C:
			commit.idle(session)
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			batch = append(batch, msg)
		}
	}
	for len(batch) < maxBatch {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return batch
			}
			batch = append(batch, msg)
		default:
			return batch
		}
	}
	return batch
}
