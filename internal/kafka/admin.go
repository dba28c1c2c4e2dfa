package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/IBM/sarama"
)

// NewClient validates cfg and connects a sarama client to its bootstrap servers.
func NewClient(cfg Config) (sarama.Client, error) {
	sc, err := build(cfg)
	if err != nil {
		return nil, err
	}
	client, err := sarama.NewClient(cfg.BootstrapServers, sc)
	if err != nil {
		return nil, fmt.Errorf("connect to Kafka at %s: %w", brokerList(cfg), err)
	}
	return client, nil
}

// NewClusterAdmin validates cfg and connects a sarama cluster admin to its bootstrap servers.
func NewClusterAdmin(cfg Config) (sarama.ClusterAdmin, error) {
	sc, err := build(cfg)
	if err != nil {
		return nil, err
	}
	admin, err := sarama.NewClusterAdmin(cfg.BootstrapServers, sc)
	if err != nil {
		return nil, fmt.Errorf("connect Kafka admin at %s: %w", brokerList(cfg), err)
	}
	return admin, nil
}

func build(cfg Config) (*sarama.Config, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sc, err := cfg.Sarama()
	if err != nil {
		return nil, fmt.Errorf("build Kafka config for %s: %w", brokerList(cfg), err)
	}
	return sc, nil
}

func brokerList(cfg Config) string {
	return strings.Join(cfg.BootstrapServers, ",")
}

// unreachableSentinels are errors that mean no broker gave an answer.
var unreachableSentinels = []error{
	sarama.ErrOutOfBrokers,
	sarama.ErrClosedClient,
	sarama.ErrNotConnected,
	context.DeadlineExceeded,
	os.ErrDeadlineExceeded,
	syscall.ECONNREFUSED,
	syscall.ECONNRESET,
	syscall.ECONNABORTED,
	syscall.EHOSTUNREACH,
	syscall.ENETUNREACH,
	syscall.EPIPE,
	syscall.ETIMEDOUT,
}

// unreachableTexts catch the same failures in errors that a library flattened to text.
var unreachableTexts = []string{"i/o timeout", "connection refused", "no route to host"}

// IsUnreachable reports whether err means that no Kafka broker answered: a connection
// could not be opened, kept or used in time. Sarama folds failed TLS handshakes into
// sarama.ErrOutOfBrokers, so they count too; the wrapped cause says which. It is false
// when a broker answered with an error code (a sarama.KError anywhere in the chain), since
// then Kafka is reachable and the request itself failed, and false for nil.
func IsUnreachable(err error) bool {
	if err == nil {
		return false
	}

	var kerr sarama.KError
	if errors.As(err, &kerr) && kerr != sarama.ErrNoError {
		return false
	}

	for _, sentinel := range unreachableSentinels {
		if errors.Is(err, sentinel) {
			return true
		}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}

	text := err.Error()
	for _, s := range unreachableTexts {
		if strings.Contains(text, s) {
			return true
		}
	}
	return false
}
