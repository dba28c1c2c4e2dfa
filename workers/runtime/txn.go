package runtime

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// transactor commits a batch the ExactlyOnce way: the outputs and the input
// offset after the batch go into one Kafka transaction, written by a producer
// of this partition alone. Readers of the outputs with read_committed see the
// batch entirely or not at all.
type transactor struct {
	r        *Runner
	id       string
	producer sarama.SyncProducer
}

// newTransactor creates the partition's transactional producer. Creating it
// initialises its transactional id with the coordinator, which fences a
// zombie producer of the partition's previous owner and aborts its open
// transaction.
func (r *Runner) newTransactor(ctx context.Context, partition int32) (*transactor, error) {
	w := r.opts.Worker
	id := transactionalID(w.ConsumerGroup, w.InputTopic, partition)
	sc, err := saramaConfig(r.opts.Kafka, w, roleTransactional, id)
	if err != nil {
		return nil, err
	}
	p, err := sarama.NewSyncProducer(r.opts.Kafka.BootstrapServers, sc)
	if err != nil {
		return nil, fmt.Errorf("create transactional producer %s: %w", id, err)
	}
	log.FromContext(ctx).V(1).Info("Created transactional producer", "transactionalID", id)
	return &transactor{r: r, id: id, producer: p}, nil
}

// openTransactors creates the producers of the claimed partitions in parallel.
func (r *Runner) openTransactors(ctx context.Context, partitions []int32) error {
	type opened struct {
		partition int32
		tx        *transactor
		err       error
	}
	results := make(chan opened, len(partitions))
	for _, p := range partitions {
		go func() {
			tx, err := r.newTransactor(ctx, p)
			results <- opened{partition: p, tx: tx, err: err}
		}()
	}
	var errs []error
	r.txMu.Lock()
	defer r.txMu.Unlock()
	r.transactors = map[int32]*transactor{}
	for range partitions {
		o := <-results
		if o.err != nil {
			errs = append(errs, o.err)
			continue
		}
		r.transactors[o.partition] = o.tx
	}
	if err := errors.Join(errs...); err != nil {
		for _, tx := range r.transactors {
			tx.close(ctx)
		}
		r.transactors = nil
		return err
	}
	return nil
}

func (r *Runner) transactor(partition int32) (*transactor, bool) {
	r.txMu.Lock()
	defer r.txMu.Unlock()
	tx, ok := r.transactors[partition]
	return tx, ok
}

// closeTransactors closes the producers of the session that ends.
func (r *Runner) closeTransactors(ctx context.Context) {
	r.txMu.Lock()
	defer r.txMu.Unlock()
	for _, tx := range r.transactors {
		tx.close(ctx)
	}
	r.transactors = nil
}

func (t *transactor) dedup() *dedupStore { return nil }

// idle does nothing: every transaction commits its offsets itself.
func (t *transactor) idle(sarama.ConsumerGroupSession) {}

// failure is nil: commit returns every failure itself.
func (t *transactor) failure() <-chan struct{} { return nil }

// finish has nothing to wait for: commit returns once its transaction ends.
func (t *transactor) finish() error { return nil }

func (t *transactor) close(ctx context.Context) {
	if err := t.producer.Close(); err != nil {
		log.FromContext(ctx).Error(err, "Cannot close the transactional producer",
			"transactionalID", t.id)
	}
}

// commit runs the batch's transaction. An abortable failure aborts it and
// writes the same batch again in a new transaction, which is a rewind to the
// batch's first offset without reprocessing (its outputs are kept); the
// retries end with the session, leaving the offset where the last committed
// transaction put it for the next owner. A fatal failure (the producer was
// fenced by a newer owner) ends the claim.
func (t *transactor) commit(
	ctx context.Context,
	session sarama.ConsumerGroupSession,
	claim sarama.ConsumerGroupClaim,
	events []handled,
) error {
	var msgs []*sarama.ProducerMessage
	for _, h := range events {
		msgs = append(msgs, h.outputs...)
	}
	next := events[len(events)-1].msg.Offset + 1
	for attempt := 1; ; attempt++ {
		err := t.transact(session, claim, msgs, next)
		if err == nil {
			t.r.committed(claim, events)
			return nil
		}
		if t.producer.TxnStatus()&sarama.ProducerTxnFlagFatalError != 0 {
			return fmt.Errorf("transaction of %s failed fatally: %w", t.id, err)
		}
		if t.producer.TxnStatus()&(sarama.ProducerTxnFlagInTransaction|
			sarama.ProducerTxnFlagAbortableError) != 0 {
			if abortErr := t.producer.AbortTxn(); abortErr != nil {
				return fmt.Errorf("abort transaction of %s after %w: %w", t.id, err, abortErr)
			}
		}
		t.r.metrics.inWriteFailed.Inc()
		t.r.metrics.setLag(claim.Topic(), claim.Partition(), claim.HighWaterMarkOffset()-events[0].msg.Offset)
		wait := t.r.backoff.wait(attempt)
		// committed clears this once a transaction of the partition succeeds.
		t.r.health.stop(claim.Partition(), fmt.Sprintf("transaction of the batch from offset %d failed: "+
			"%v; writing it again", events[0].msg.Offset, err))
		log.FromContext(ctx).Error(err, "Aborted a transaction; writing the batch again",
			"transactionalID", t.id, "fromOffset", events[0].msg.Offset, "attempt", attempt,
			"wait", wait)
		if !sleep(session.Context(), wait) {
			return err
		}
		msgs = copyMessages(msgs)
	}
}

func (t *transactor) transact(
	session sarama.ConsumerGroupSession,
	claim sarama.ConsumerGroupClaim,
	msgs []*sarama.ProducerMessage,
	next int64,
) error {
	if err := t.producer.BeginTxn(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if len(msgs) > 0 {
		if err := t.producer.SendMessages(msgs); err != nil {
			return fmt.Errorf("write outputs in transaction: %w", deliveryError(err))
		}
	}
	offsets := map[string][]*sarama.PartitionOffsetMetadata{
		claim.Topic(): {{Partition: claim.Partition(), Offset: next, LeaderEpoch: -1}},
	}
	group := sarama.NewConsumerGroupMetadataFromSession(session, t.r.opts.Worker.ConsumerGroup, nil)
	if err := t.producer.AddOffsetsToTxnWithGroupMetadata(offsets, group); err != nil {
		return fmt.Errorf("add offsets to transaction: %w", err)
	}
	if err := t.producer.CommitTxn(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}
