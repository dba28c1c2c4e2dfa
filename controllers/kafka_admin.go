package controllers

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/IBM/sarama"

	"github.com/eventpipe/eventpipe/internal/kafka"
)

// KafkaAdmin hands the reconcilers Kafka admin clients from a small pool. A
// broker answers the requests of one connection one at a time, so concurrent
// reconciles need connections of their own to run in parallel. Each client is
// dialled on first use, so the manager starts while the brokers are down, and
// dialled again after a connection failure.
type KafkaAdmin struct {
	config kafka.Config
	next   atomic.Uint64
	slots  []adminSlot
}

type adminSlot struct {
	mu   sync.Mutex
	conn *KafkaConn
}

// KafkaConn is one connection of the pool: an admin client and the client it
// is built on, for the requests the admin API lacks (log offsets).
type KafkaConn struct {
	sarama.ClusterAdmin
	// Client is the client under the admin; closing the admin closes it.
	Client sarama.Client
}

// NewKafkaAdmin returns a pool of up to size admin clients for the brokers of
// config. It does not dial.
func NewKafkaAdmin(config kafka.Config, size int) *KafkaAdmin {
	return &KafkaAdmin{config: config, slots: make([]adminSlot, max(size, 1))}
}

// Brokers names the bootstrap servers, for messages.
func (k *KafkaAdmin) Brokers() string {
	return strings.Join(k.config.BootstrapServers, ",")
}

// Get returns a connection, dialling when its slot has none.
func (k *KafkaAdmin) Get() (*KafkaConn, error) {
	slot := &k.slots[k.next.Add(1)%uint64(len(k.slots))]
	slot.mu.Lock()
	defer slot.mu.Unlock()
	if slot.conn != nil {
		return slot.conn, nil
	}
	client, err := kafka.NewClient(k.config)
	if err != nil {
		return nil, err
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("create admin client: %w", err)
	}
	slot.conn = &KafkaConn{ClusterAdmin: admin, Client: client}
	return slot.conn, nil
}

// Discard closes admin if it is still in the pool, so the next Get of its slot
// dials afresh. Reconcilers call it when a request failed for want of a
// connection.
func (k *KafkaAdmin) Discard(admin sarama.ClusterAdmin) {
	for i := range k.slots {
		slot := &k.slots[i]
		slot.mu.Lock()
		if slot.conn != nil && sarama.ClusterAdmin(slot.conn) == admin {
			_ = slot.conn.Close()
			slot.conn = nil
		}
		slot.mu.Unlock()
	}
}

// Close closes every client of the pool.
func (k *KafkaAdmin) Close() error {
	var first error
	for i := range k.slots {
		slot := &k.slots[i]
		slot.mu.Lock()
		if slot.conn != nil {
			if err := slot.conn.Close(); err != nil && first == nil {
				first = err
			}
			slot.conn = nil
		}
		slot.mu.Unlock()
	}
	return first
}
