package controllers

import (
	"strings"
	"sync"

	"github.com/IBM/sarama"

	"github.com/eventpipe/eventpipe/internal/kafka"
)

// KafkaAdmin hands the reconcilers one shared Kafka admin client. It dials on
// first use, so the manager starts while the brokers are down, and dials again
// after a connection failure.
type KafkaAdmin struct {
	config kafka.Config

	mu    sync.Mutex
	admin sarama.ClusterAdmin
}

// NewKafkaAdmin returns a KafkaAdmin for the brokers of config. It does not dial.
func NewKafkaAdmin(config kafka.Config) *KafkaAdmin {
	return &KafkaAdmin{config: config}
}

// Brokers names the bootstrap servers, for messages.
func (k *KafkaAdmin) Brokers() string {
	return strings.Join(k.config.BootstrapServers, ",")
}

// Get returns the admin client, dialling when there is none.
func (k *KafkaAdmin) Get() (sarama.ClusterAdmin, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.admin != nil {
		return k.admin, nil
	}
	admin, err := kafka.NewClusterAdmin(k.config)
	if err != nil {
		return nil, err
	}
	k.admin = admin
	return admin, nil
}

// Discard closes admin if it is still the shared client, so the next Get dials
// afresh. Reconcilers call it when a request failed for want of a connection.
func (k *KafkaAdmin) Discard(admin sarama.ClusterAdmin) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.admin != nil && k.admin == admin {
		_ = k.admin.Close()
		k.admin = nil
	}
}

// Close closes the shared client.
func (k *KafkaAdmin) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.admin == nil {
		return nil
	}
	err := k.admin.Close()
	k.admin = nil
	return err
}
