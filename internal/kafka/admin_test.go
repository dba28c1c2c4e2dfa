package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func TestIsUnreachable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect",
		syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil", err: nil, want: false},
		{name: "out of brokers", err: sarama.ErrOutOfBrokers, want: true},
		{
			name: "out of brokers wrapping a refused dial",
			err:  fmt.Errorf("list topics: %w", sarama.Wrap(sarama.ErrOutOfBrokers, refused)),
			want: true,
		},
		{name: "closed client", err: sarama.ErrClosedClient, want: true},
		{name: "not connected", err: sarama.ErrNotConnected, want: true},
		{name: "net.OpError", err: refused, want: true},
		{name: "bare ECONNREFUSED", err: fmt.Errorf("dial: %w", syscall.ECONNREFUSED), want: true},
		{name: "connection reset", err: syscall.ECONNRESET, want: true},
		{name: "context deadline", err: context.DeadlineExceeded, want: true},
		{name: "i/o deadline", err: os.ErrDeadlineExceeded, want: true},
		{name: "DNS failure", err: &net.DNSError{Err: "no such host", IsNotFound: true},
			want: true},
		{name: "flattened i/o timeout", err: errors.New("read tcp 10.0.0.1:9092: i/o timeout"),
			want: true},
		{name: "kafka error code", err: sarama.ErrTopicAlreadyExists, want: false},
		{
			name: "wrapped kafka error code",
			err:  fmt.Errorf("create topic %q: %w", "a.b", sarama.ErrPolicyViolation),
			want: false,
		},
		{
			name: "out of brokers because authentication failed",
			err:  sarama.Wrap(sarama.ErrOutOfBrokers, sarama.ErrSASLAuthenticationFailed),
			want: false,
		},
		{name: "cancelled by the caller", err: context.Canceled, want: false},
		{name: "configuration error", err: sarama.ConfigurationError("bad"), want: false},
		{name: "other error", err: errors.New("boom"), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsUnreachable(tt.err); got != tt.want {
				t.Errorf("IsUnreachable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// closedAddr returns a loopback address on which nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return addr
}

func TestNewClientUnreachable(t *testing.T) {
	addr := closedAddr(t)
	connect := []struct {
		name string
		new  func(Config) (any, error)
	}{
		{name: "client", new: func(c Config) (any, error) { return NewClient(c) }},
		{name: "cluster admin", new: func(c Config) (any, error) { return NewClusterAdmin(c) }},
	}
	for _, tt := range connect {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := tt.new(Config{BootstrapServers: []string{addr}})
			if err == nil {
				t.Fatal("connected to a closed port")
			}
			if !IsUnreachable(err) {
				t.Errorf("IsUnreachable(%v) = false", err)
			}
			if !strings.Contains(err.Error(), addr) {
				t.Errorf("error %q does not name the broker %s", err, addr)
			}
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("took %v to notice a refused connection, want seconds", elapsed)
			}
		})
	}
}

func TestNewClientInvalidConfig(t *testing.T) {
	dir := writeFiles(t, map[string]string{FileSASLMechanism: "KERBEROS"})
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "no servers", cfg: Config{}, wantErr: "no Kafka bootstrap servers"},
		{
			name:    "bad config dir",
			cfg:     Config{BootstrapServers: []string{"kafka:9092"}, ConfigDir: dir},
			wantErr: `"KERBEROS"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClient(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewClient error %v, want one containing %q", err, tt.wantErr)
			}
			if IsUnreachable(err) {
				t.Errorf("IsUnreachable(%v) = true for a configuration error", err)
			}
		})
	}
}
