// Package kafka builds the one sarama configuration that the manager and the workers use to
// talk to Kafka, and the clients made from it.
//
// Connection security comes from ConfigDir, a directory that normally holds the keys of a
// Kubernetes Secret mounted as files. Each file holds one value; surrounding whitespace and
// newlines are trimmed. The recognised files are:
//
//	ca.crt                  PEM CA certificates to trust; its presence enables TLS
//	tls.crt, tls.key        PEM client certificate and key for mutual TLS; both or neither
//	tls.insecureSkipVerify  "true" to skip verifying the broker's certificate (test clusters)
//	sasl.mechanism          PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; its presence enables SASL
//	sasl.username           the SASL user, required with sasl.mechanism
//	sasl.password           the SASL password, required with sasl.mechanism
//	security.protocol       optional: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
//
// Without security.protocol the protocol follows from the files: any of ca.crt, tls.crt,
// tls.key or a true tls.insecureSkipVerify means TLS, sasl.mechanism means SASL. With it,
// the files must agree: PLAINTEXT allows no TLS or SASL file, SSL allows no sasl.mechanism,
// SASL_PLAINTEXT allows no TLS file, and both SASL protocols require sasl.mechanism. SSL or
// SASL_SSL without ca.crt trusts the system certificate pool. An empty ConfigDir, a missing
// directory or an empty one means plaintext without authentication. Other files in the
// directory are ignored.
package kafka

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// The names of the files read from ConfigDir.
const (
	// FileCA is the file holding the PEM CA certificates to trust.
	FileCA = "ca.crt"
	// FileCert is the file holding the PEM client certificate.
	FileCert = "tls.crt"
	// FileKey is the file holding the PEM private key of the client certificate.
	FileKey = "tls.key"
	// FileInsecureSkipVerify is the file that, holding "true", turns off broker verification.
	FileInsecureSkipVerify = "tls.insecureSkipVerify"
	// FileSASLMechanism is the file holding the SASL mechanism.
	FileSASLMechanism = "sasl.mechanism"
	// FileSASLUsername is the file holding the SASL user name.
	FileSASLUsername = "sasl.username"
	// FileSASLPassword is the file holding the SASL password.
	FileSASLPassword = "sasl.password"
	// FileSecurityProtocol is the file holding the optional security protocol.
	FileSecurityProtocol = "security.protocol"
)

// The security protocols accepted in FileSecurityProtocol, spelled as Kafka spells them.
const (
	// ProtocolPlaintext is an unencrypted, unauthenticated connection.
	ProtocolPlaintext = "PLAINTEXT"
	// ProtocolSSL is a TLS connection without SASL.
	ProtocolSSL = "SSL"
	// ProtocolSASLPlaintext is SASL authentication over an unencrypted connection.
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	// ProtocolSASLSSL is SASL authentication over TLS.
	ProtocolSASLSSL = "SASL_SSL"
)

// The names of the flags that BindFlags defines; the worker Deployment renders the same.
const (
	// FlagBootstrapServers is the flag holding the comma-separated bootstrap servers.
	FlagBootstrapServers = "kafka-bootstrap-servers"
	// FlagConfigDir is the flag holding the directory of connection security files.
	FlagConfigDir = "kafka-config-dir"
)

// Defaults for the zero values of Config.
const (
	// DefaultClientID is the client id sent to the brokers when Config.ClientID is empty.
	DefaultClientID = "eventpipe"
	// DefaultDialTimeout bounds opening a connection to one broker. It is short because a
	// broker that does not accept a connection in seconds is treated as unreachable.
	DefaultDialTimeout = 5 * time.Second
	// DefaultReadTimeout bounds waiting for one response. It must exceed the longest time a
	// broker may legitimately hold a request (producer acks and admin timeouts, 10s each).
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds sending one request.
	DefaultWriteTimeout = 10 * time.Second
)

// Settings that are the same for every user of this package. The metadata ones make an
// unreachable cluster fail in seconds: sarama's own retries would otherwise stack up to
// minutes, and the operator reports KafkaUnreachable and requeues instead.
const (
	metadataRetryMax     = 2
	metadataRetryBackoff = 250 * time.Millisecond
	metadataTimeout      = 10 * time.Second
	metadataRefresh      = time.Minute
	adminTimeout         = 10 * time.Second
	adminRetryMax        = 3
	adminRetryBackoff    = 250 * time.Millisecond
)

// defaultVersion is the oldest protocol level of Kafka 4.x, so every 4.x broker accepts
// it; sarama also narrows each request to the versions a broker advertises.
var defaultVersion = sarama.V4_0_0_0

// Config is what a process knows about the Kafka cluster it talks to. Zero values of the
// optional fields take the defaults documented on each field.
type Config struct {
	// BootstrapServers are the host:port addresses used to discover the cluster.
	BootstrapServers []string
	// ClientID identifies this process in broker logs and quotas; default DefaultClientID.
	ClientID string
	// ConfigDir is the directory of connection security files described in the package
	// documentation; empty means plaintext without authentication.
	ConfigDir string
	// DialTimeout bounds opening a connection; default DefaultDialTimeout.
	DialTimeout time.Duration
	// ReadTimeout bounds waiting for a response; default DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds sending a request; default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Version is the Kafka protocol level assumed; default sarama.V4_0_0_0.
	Version sarama.KafkaVersion
}

// BindFlags defines FlagBootstrapServers and FlagConfigDir on fs, writing into c.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	fs.Func(FlagBootstrapServers, "Comma-separated host:port list of Kafka bootstrap servers",
		func(s string) error {
			c.BootstrapServers = ParseBootstrapServers(s)
			return nil
		})
	fs.StringVar(&c.ConfigDir, FlagConfigDir, c.ConfigDir,
		"Directory of Kafka TLS and SASL files, usually a mounted Secret (empty: plaintext)")
}

// ParseBootstrapServers splits a comma-separated list, trimming spaces and dropping empties.
func ParseBootstrapServers(s string) []string {
	var servers []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			servers = append(servers, part)
		}
	}
	return servers
}

// Validate reports a Config that cannot connect whatever the cluster does.
func (c Config) Validate() error {
	if len(c.BootstrapServers) == 0 {
		return errors.New("no Kafka bootstrap servers: set --" + FlagBootstrapServers)
	}
	for _, server := range c.BootstrapServers {
		if _, _, err := net.SplitHostPort(server); err != nil {
			return fmt.Errorf("parse Kafka bootstrap server %q: %w", server, err)
		}
	}
	if c.DialTimeout < 0 || c.ReadTimeout < 0 || c.WriteTimeout < 0 {
		return errors.New("negative Kafka network timeout")
	}
	return nil
}

// Sarama builds the sarama configuration, reading TLS and SASL settings from ConfigDir.
func (c Config) Sarama() (*sarama.Config, error) {
	sc := sarama.NewConfig()
	sc.Version = c.Version
	if sc.Version == (sarama.KafkaVersion{}) {
		sc.Version = defaultVersion
	}
	sc.ClientID = orDefault(c.ClientID, DefaultClientID)

	sc.Net.DialTimeout = orDefault(c.DialTimeout, DefaultDialTimeout)
	sc.Net.ReadTimeout = orDefault(c.ReadTimeout, DefaultReadTimeout)
	sc.Net.WriteTimeout = orDefault(c.WriteTimeout, DefaultWriteTimeout)

	sc.Metadata.Retry.Max = metadataRetryMax
	sc.Metadata.Retry.Backoff = metadataRetryBackoff
	sc.Metadata.Timeout = metadataTimeout
	sc.Metadata.RefreshFrequency = metadataRefresh
	// Topics belong to EventStreams: a worker writing to a missing topic must fail rather
	// than have the broker create one with its defaults.
	sc.Metadata.AllowAutoTopicCreation = false

	sc.Admin.Timeout = adminTimeout
	sc.Admin.Retry.Max = adminRetryMax
	sc.Admin.Retry.Backoff = adminRetryBackoff

	// murmur2 is the hash of the Java client's default partitioner, so an event keyed by
	// eventpipe lands on the same partition as one with the same key from a Java producer.
	sc.Producer.Partitioner = sarama.NewMurmur2Partitioner
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true

	sc.Consumer.Offsets.Initial = sarama.OffsetOldest

	sec, err := loadSecurity(c.ConfigDir)
	if err != nil {
		return nil, err
	}
	if err := sec.apply(sc); err != nil {
		return nil, err
	}

	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("validate sarama config: %w", err)
	}
	return sc, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// security is what ConfigDir says about TLS and SASL, checked for consistency.
type security struct {
	dir                string
	protocol           string
	ca, cert, key      []byte
	insecureSkipVerify bool
	mechanism          sarama.SASLMechanism
	username, password string
}

// tlsFiles lists the files that ask for TLS, in the order conflicts are reported.
var tlsFiles = []string{FileCA, FileCert, FileKey, FileInsecureSkipVerify}

func loadSecurity(dir string) (security, error) {
	files, err := readConfigDir(dir)
	if err != nil {
		return security{}, err
	}

	sec := security{
		dir:      dir,
		ca:       []byte(files[FileCA]),
		cert:     []byte(files[FileCert]),
		key:      []byte(files[FileKey]),
		username: files[FileSASLUsername],
		password: files[FileSASLPassword],
	}
	if v, ok := files[FileInsecureSkipVerify]; ok {
		if sec.insecureSkipVerify, err = strconv.ParseBool(v); err != nil {
			return security{}, fmt.Errorf("parse %s in %s: want true or false, got %q",
				FileInsecureSkipVerify, dir, v)
		}
		if !sec.insecureSkipVerify {
			delete(files, FileInsecureSkipVerify)
		}
	}
	if (len(sec.cert) == 0) != (len(sec.key) == 0) {
		return security{}, fmt.Errorf("load client certificate from %s: set both %s and %s",
			dir, FileCert, FileKey)
	}
	if sec.mechanism, err = parseMechanism(files); err != nil {
		return security{}, fmt.Errorf("configure SASL from %s: %w", dir, err)
	}
	if sec.protocol, err = resolveProtocol(files); err != nil {
		return security{}, fmt.Errorf("configure security protocol from %s: %w", dir, err)
	}
	return sec, nil
}

// readConfigDir returns the trimmed, non-empty values of the known files in dir.
func readConfigDir(dir string) (map[string]string, error) {
	files := map[string]string{}
	if dir == "" {
		return files, nil
	}
	names := append([]string{FileSASLMechanism, FileSASLUsername, FileSASLPassword,
		FileSecurityProtocol}, tlsFiles...)
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read Kafka config file %s: %w", name, err)
		}
		if v := strings.TrimSpace(string(data)); v != "" {
			files[name] = v
		}
	}
	return files, nil
}

func parseMechanism(files map[string]string) (sarama.SASLMechanism, error) {
	raw, ok := files[FileSASLMechanism]
	if !ok {
		for _, name := range []string{FileSASLUsername, FileSASLPassword} {
			if _, set := files[name]; set {
				return "", fmt.Errorf("%s is set but %s is missing", name, FileSASLMechanism)
			}
		}
		return "", nil
	}

	mechanism := sarama.SASLMechanism(strings.ToUpper(raw))
	switch mechanism {
	case sarama.SASLTypePlaintext, sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512:
	default:
		return "", fmt.Errorf("unknown %s %q: want %s, %s or %s", FileSASLMechanism, raw,
			sarama.SASLTypePlaintext, sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512)
	}
	for _, name := range []string{FileSASLUsername, FileSASLPassword} {
		if _, set := files[name]; !set {
			return "", fmt.Errorf("%s %s requires %s", FileSASLMechanism, mechanism, name)
		}
	}
	return mechanism, nil
}

// resolveProtocol infers the protocol from the files, or checks the declared one
// against them.
func resolveProtocol(files map[string]string) (string, error) {
	tlsFile := ""
	for _, name := range tlsFiles {
		if _, ok := files[name]; ok {
			tlsFile = name
			break
		}
	}
	_, hasSASL := files[FileSASLMechanism]

	raw, declared := files[FileSecurityProtocol]
	if !declared {
		switch {
		case tlsFile != "" && hasSASL:
			return ProtocolSASLSSL, nil
		case tlsFile != "":
			return ProtocolSSL, nil
		case hasSASL:
			return ProtocolSASLPlaintext, nil
		}
		return ProtocolPlaintext, nil
	}

	protocol := strings.ToUpper(raw)
	var wantTLS, wantSASL bool
	switch protocol {
	case ProtocolPlaintext:
	case ProtocolSSL:
		wantTLS = true
	case ProtocolSASLPlaintext:
		wantSASL = true
	case ProtocolSASLSSL:
		wantTLS, wantSASL = true, true
	default:
		return "", fmt.Errorf("unknown %s %q: want %s, %s, %s or %s", FileSecurityProtocol, raw,
			ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL)
	}
	if !wantTLS && tlsFile != "" {
		return "", fmt.Errorf("%s %s conflicts with %s", FileSecurityProtocol, protocol, tlsFile)
	}
	if !wantSASL && hasSASL {
		return "", fmt.Errorf("%s %s conflicts with %s", FileSecurityProtocol, protocol,
			FileSASLMechanism)
	}
	if wantSASL && !hasSASL {
		return "", fmt.Errorf("%s %s requires %s", FileSecurityProtocol, protocol,
			FileSASLMechanism)
	}
	return protocol, nil
}

func (s security) apply(sc *sarama.Config) error {
	if s.protocol == ProtocolSSL || s.protocol == ProtocolSASLSSL {
		tlsConfig, err := s.tlsConfig()
		if err != nil {
			return err
		}
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = tlsConfig
	}

	if s.mechanism == "" {
		return nil
	}
	sc.Net.SASL.Enable = true
	sc.Net.SASL.Mechanism = s.mechanism
	sc.Net.SASL.User = s.username
	sc.Net.SASL.Password = s.password
	switch s.mechanism {
	case sarama.SASLTypeSCRAMSHA256:
		sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient {
			return newSCRAMClient(sha256.New)
		}
	case sarama.SASLTypeSCRAMSHA512:
		sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient {
			return newSCRAMClient(sha512.New)
		}
	}
	return nil
}

func (s security) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Opt-in through the Secret, meant for test clusters with throwaway certificates.
		InsecureSkipVerify: s.insecureSkipVerify, //nolint:gosec // see above
	}
	if len(s.ca) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(s.ca) {
			return nil, fmt.Errorf("parse %s in %s: no PEM certificate found", FileCA, s.dir)
		}
		cfg.RootCAs = pool
	}
	if len(s.cert) > 0 {
		pair, err := tls.X509KeyPair(s.cert, s.key)
		if err != nil {
			return nil, fmt.Errorf("load client certificate from %s and %s in %s: %w",
				FileCert, FileKey, s.dir, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
