package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

const (
	// DefaultCreateLinger is how long the TopicCreator waits for more requests
	// after the first one before it sends a batch.
	DefaultCreateLinger = 5 * time.Millisecond

	// DefaultCreateBatch is the most topics one CreateTopics request carries.
	DefaultCreateBatch = 100
)

// ErrCreatorStopped is returned by TopicCreator.Create once the creator stops.
var ErrCreatorStopped = errors.New("topic creator stopped")

// TopicCreator creates topics in batches. The Kafka controller commits each
// CreateTopics request to its metadata log as one unit, so on a single broker
// one topic per request tops out at a few dozen topics a second, while a batch
// of a hundred costs about the same as one. Concurrent callers' requests are
// gathered for DefaultCreateLinger and sent together; each caller gets its own
// topic's result.
//
// It is a controller-runtime Runnable: Start runs the batching loop until its
// context ends.
type TopicCreator struct {
	config   Config
	linger   time.Duration
	maxBatch int
	requests chan createRequest
}

type createRequest struct {
	name   string
	detail *sarama.TopicDetail
	done   chan error
}

// NewTopicCreator returns a TopicCreator for the brokers of config. It dials
// when the first batch is sent.
func NewTopicCreator(config Config) *TopicCreator {
	return &TopicCreator{
		config:   config,
		linger:   DefaultCreateLinger,
		maxBatch: DefaultCreateBatch,
		requests: make(chan createRequest),
	}
}

// Create creates one topic and returns Kafka's answer for it: nil, a
// *sarama.TopicError (errors.Is works with the sarama.KError inside), or a
// connection error that IsUnreachable recognises.
func (c *TopicCreator) Create(ctx context.Context, name string, detail *sarama.TopicDetail) error {
	req := createRequest{name: name, detail: detail, done: make(chan error, 1)}
	select {
	case c.requests <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NeedLeaderElection is false: only reconcilers that hold the lease send
// requests, and the loop itself changes nothing.
func (c *TopicCreator) NeedLeaderElection() bool { return false }

// Start runs the batching loop until ctx ends.
func (c *TopicCreator) Start(ctx context.Context) error {
	var client sarama.Client
	defer func() {
		if client != nil {
			_ = client.Close()
		}
	}()
	var carried []createRequest
	for {
		var first createRequest
		if len(carried) > 0 {
			first, carried = carried[0], carried[1:]
		} else {
			select {
			case <-ctx.Done():
				return nil
			case first = <-c.requests:
			}
		}
		var batch map[string]createRequest
		batch, carried = c.gather(ctx, first, carried)
		client = c.send(client, batch)
	}
}

// gather collects requests for up to the linger time or a full batch. A second
// request for a topic already in the batch waits for the next one.
func (c *TopicCreator) gather(
	ctx context.Context,
	first createRequest,
	carried []createRequest,
) (map[string]createRequest, []createRequest) {
	batch := map[string]createRequest{first.name: first}
	var later []createRequest
	for _, req := range carried {
		if _, dup := batch[req.name]; dup || len(batch) >= c.maxBatch {
			later = append(later, req)
			continue
		}
		batch[req.name] = req
	}
	timer := time.NewTimer(c.linger)
	defer timer.Stop()
	for len(batch) < c.maxBatch {
		select {
		case <-ctx.Done():
			return batch, later
		case <-timer.C:
			return batch, later
		case req := <-c.requests:
			if _, dup := batch[req.name]; dup {
				later = append(later, req)
				continue
			}
			batch[req.name] = req
		}
	}
	return batch, later
}

// send sends one batch and answers each of its callers. It returns the client
// to use next time: nil after a connection failure, so the next batch dials.
func (c *TopicCreator) send(client sarama.Client, batch map[string]createRequest) sarama.Client {
	answer := func(err error) {
		for _, req := range batch {
			req.done <- err
		}
	}
	if client == nil {
		var err error
		if client, err = NewClient(c.config); err != nil {
			answer(err)
			return nil
		}
	}

	details := make(map[string]*sarama.TopicDetail, len(batch))
	for name, req := range batch {
		details[name] = req.detail
	}
	conf := client.Config()
	request := sarama.NewCreateTopicsRequest(conf.Version, details, conf.Admin.Timeout, false)
	response, err := c.sendToController(client, request)
	if err != nil {
		answer(fmt.Errorf("create %d topics: %w", len(batch), err))
		if IsUnreachable(err) {
			_ = client.Close()
			return nil
		}
		return client
	}
	for name, req := range batch {
		topicErr, ok := response.TopicErrors[name]
		switch {
		case !ok:
			req.done <- fmt.Errorf("create topic %s: %w", name, sarama.ErrIncompleteResponse)
		case errors.Is(topicErr.Err, sarama.ErrNoError):
			req.done <- nil
		default:
			req.done <- topicErr
		}
	}
	return client
}

// sendToController sends request to the controller broker, looking the
// controller up again once if the broker it knew has stepped down.
func (c *TopicCreator) sendToController(
	client sarama.Client,
	request *sarama.CreateTopicsRequest,
) (*sarama.CreateTopicsResponse, error) {
	for attempt := 0; ; attempt++ {
		broker, err := client.Controller()
		if err != nil {
			return nil, err
		}
		response, err := broker.CreateTopics(request)
		if err != nil {
			return nil, err
		}
		movedOn := false
		for _, topicErr := range response.TopicErrors {
			movedOn = movedOn || errors.Is(topicErr.Err, sarama.ErrNotController)
		}
		if !movedOn || attempt > 0 {
			return response, nil
		}
		if _, err := client.RefreshController(); err != nil {
			return nil, err
		}
	}
}
