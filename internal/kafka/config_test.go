package kafka

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// testPKI is a throwaway CA and a client certificate it signed, all PEM.
type testPKI struct {
	ca, cert, key string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatalf("generate key: %v", err)
		}
		return key
	}
	issue := func(tmpl, parent *x509.Certificate, pub, signer any) string {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatalf("create certificate %s: %v", tmpl.Subject.CommonName, err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}

	caKey, key := newKey(), newKey()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "eventpipe test CA"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	client := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "eventpipe-manager"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("marshal client key: %v", err)
	}
	return testPKI{
		ca:   issue(ca, ca, &caKey.PublicKey, caKey),
		cert: issue(client, ca, &key.PublicKey, caKey),
		key:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatalf("write %s: %v", name, err)
		}
	}
	return dir
}

func TestSaramaDefaults(t *testing.T) {
	sc, err := Config{BootstrapServers: []string{"localhost:9092"}}.Sarama()
	if err != nil {
		t.Fatalf("Sarama: %v", err)
	}

	checks := []struct {
		name      string
		got, want any
	}{
		{"version", sc.Version, sarama.V4_0_0_0},
		{"client id", sc.ClientID, DefaultClientID},
		{"dial timeout", sc.Net.DialTimeout, DefaultDialTimeout},
		{"read timeout", sc.Net.ReadTimeout, DefaultReadTimeout},
		{"write timeout", sc.Net.WriteTimeout, DefaultWriteTimeout},
		{"metadata retries", sc.Metadata.Retry.Max, metadataRetryMax},
		{"metadata backoff", sc.Metadata.Retry.Backoff, metadataRetryBackoff},
		{"metadata timeout", sc.Metadata.Timeout, metadataTimeout},
		{"metadata refresh", sc.Metadata.RefreshFrequency, metadataRefresh},
		{"auto topic creation", sc.Metadata.AllowAutoTopicCreation, false},
		{"admin timeout", sc.Admin.Timeout, adminTimeout},
		{"required acks", sc.Producer.RequiredAcks, sarama.WaitForAll},
		{"return successes", sc.Producer.Return.Successes, true},
		{"initial offset", sc.Consumer.Offsets.Initial, sarama.OffsetOldest},
		{"tls", sc.Net.TLS.Enable, false},
		{"sasl", sc.Net.SASL.Enable, false},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	// Keyed events must land where the Java client's default partitioner puts them:
	// (murmur2(key) & 0x7fffffff) % partitions, with murmur2 values from Kafka's UtilsTest.
	p := sc.Producer.Partitioner("t")
	partitions := []struct {
		key  string
		n    int32
		want int32
	}{
		{key: "foobar", n: 12, want: 1357151166 % 12},
		{key: "foobar", n: 100, want: 1357151166 % 100},
		{key: "21", n: 7, want: 1173551340 % 7},
	}
	for _, tt := range partitions {
		msg := &sarama.ProducerMessage{Key: sarama.StringEncoder(tt.key)}
		got, err := p.Partition(msg, tt.n)
		if err != nil {
			t.Fatalf("Partition(%q, %d): %v", tt.key, tt.n, err)
		}
		if got != tt.want {
			t.Errorf("Partition(%q, %d) = %d, want %d", tt.key, tt.n, got, tt.want)
		}
	}
	if !p.RequiresConsistency() {
		t.Error("partitioner does not require consistency; keyed order would break")
	}
}

func TestSaramaOverrides(t *testing.T) {
	cfg := Config{
		ClientID:     "payments-worker",
		DialTimeout:  time.Second,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 3 * time.Second,
		Version:      sarama.V3_9_0_0,
	}
	sc, err := cfg.Sarama()
	if err != nil {
		t.Fatalf("Sarama: %v", err)
	}
	if sc.ClientID != cfg.ClientID || sc.Version != cfg.Version ||
		sc.Net.DialTimeout != cfg.DialTimeout || sc.Net.ReadTimeout != cfg.ReadTimeout ||
		sc.Net.WriteTimeout != cfg.WriteTimeout {
		t.Errorf("overrides not applied: client id %q, version %v, timeouts %v/%v/%v",
			sc.ClientID, sc.Version, sc.Net.DialTimeout, sc.Net.ReadTimeout,
			sc.Net.WriteTimeout)
	}
}

func TestSaramaSecurity(t *testing.T) {
	pki := newTestPKI(t)
	tests := []struct {
		name string
		// files are written to a fresh directory; nil means ConfigDir is left empty.
		files         map[string]string
		missingDir    bool
		wantErr       []string // substrings the error must contain
		wantTLS       bool
		wantCA        bool
		wantCert      bool
		wantInsecure  bool
		wantMechanism sarama.SASLMechanism
		wantUser      string
		wantPassword  string
		wantSCRAMSize int // hash size of the generated SCRAM client, 0 for none
	}{
		{name: "no config dir"},
		{name: "missing config dir", missingDir: true},
		{name: "empty config dir", files: map[string]string{}},
		{
			name:  "unrelated files are ignored",
			files: map[string]string{"..data": "x", "README": "hello"},
		},
		{
			name:    "TLS with CA only",
			files:   map[string]string{FileCA: pki.ca},
			wantTLS: true, wantCA: true,
		},
		{
			name:    "SSL without CA uses the system pool",
			files:   map[string]string{FileSecurityProtocol: "SSL\n"},
			wantTLS: true,
		},
		{
			name:    "mutual TLS",
			files:   map[string]string{FileCA: pki.ca, FileCert: pki.cert, FileKey: pki.key},
			wantTLS: true, wantCA: true, wantCert: true,
		},
		{
			name:    "insecure skip verify",
			files:   map[string]string{FileInsecureSkipVerify: " true\n"},
			wantTLS: true, wantInsecure: true,
		},
		{
			name:  "insecure skip verify false alone stays plaintext",
			files: map[string]string{FileInsecureSkipVerify: "false"},
		},
		{
			name:    "insecure skip verify not a bool",
			files:   map[string]string{FileInsecureSkipVerify: "yes please"},
			wantErr: []string{FileInsecureSkipVerify, "yes please"},
		},
		{
			name:    "tls.crt without tls.key",
			files:   map[string]string{FileCA: pki.ca, FileCert: pki.cert},
			wantErr: []string{FileCert, FileKey},
		},
		{
			name:    "tls.key without tls.crt",
			files:   map[string]string{FileKey: pki.key},
			wantErr: []string{FileCert, FileKey},
		},
		{
			name:    "CA that is not PEM",
			files:   map[string]string{FileCA: "not a certificate"},
			wantErr: []string{FileCA, "no PEM certificate"},
		},
		{
			name:    "client key not matching the certificate",
			files:   map[string]string{FileCert: pki.cert, FileKey: newTestPKI(t).key},
			wantErr: []string{FileCert, FileKey},
		},
		{
			name: "SASL PLAIN over plaintext",
			files: map[string]string{
				FileSASLMechanism: "PLAIN\n",
				FileSASLUsername:  "alice\n",
				FileSASLPassword:  "  wonderland\n",
			},
			wantMechanism: sarama.SASLTypePlaintext,
			wantUser:      "alice",
			wantPassword:  "wonderland",
		},
		{
			name: "SCRAM-SHA-256 over TLS",
			files: map[string]string{
				FileSecurityProtocol: "SASL_SSL",
				FileCA:               pki.ca,
				FileSASLMechanism:    "SCRAM-SHA-256",
				FileSASLUsername:     "bob",
				FileSASLPassword:     "builder",
			},
			wantTLS:       true,
			wantCA:        true,
			wantMechanism: sarama.SASLTypeSCRAMSHA256,
			wantUser:      "bob",
			wantPassword:  "builder",
			wantSCRAMSize: sha256.Size,
		},
		{
			name: "SCRAM-SHA-512 lower case",
			files: map[string]string{
				FileSecurityProtocol: "sasl_plaintext",
				FileSASLMechanism:    "scram-sha-512",
				FileSASLUsername:     "carol",
				FileSASLPassword:     "secret",
			},
			wantMechanism: sarama.SASLTypeSCRAMSHA512,
			wantUser:      "carol",
			wantPassword:  "secret",
			wantSCRAMSize: sha512.Size,
		},
		{
			name: "unknown mechanism",
			files: map[string]string{
				FileSASLMechanism: "GSSAPI",
				FileSASLUsername:  "dave",
				FileSASLPassword:  "secret",
			},
			wantErr: []string{`"GSSAPI"`, FileSASLMechanism},
		},
		{
			name:    "mechanism without password",
			files:   map[string]string{FileSASLMechanism: "PLAIN", FileSASLUsername: "erin"},
			wantErr: []string{FileSASLPassword},
		},
		{
			name:    "username without mechanism",
			files:   map[string]string{FileSASLUsername: "frank", FileSASLPassword: "x"},
			wantErr: []string{FileSASLUsername, FileSASLMechanism},
		},
		{
			name:    "SASL_SSL without mechanism",
			files:   map[string]string{FileSecurityProtocol: "SASL_SSL", FileCA: pki.ca},
			wantErr: []string{ProtocolSASLSSL, "requires", FileSASLMechanism},
		},
		{
			name:    "PLAINTEXT with a CA",
			files:   map[string]string{FileSecurityProtocol: "PLAINTEXT", FileCA: pki.ca},
			wantErr: []string{ProtocolPlaintext, "conflicts", FileCA},
		},
		{
			name: "SSL with a mechanism",
			files: map[string]string{
				FileSecurityProtocol: "SSL",
				FileSASLMechanism:    "PLAIN",
				FileSASLUsername:     "gina",
				FileSASLPassword:     "x",
			},
			wantErr: []string{ProtocolSSL, "conflicts", FileSASLMechanism},
		},
		{
			name: "SASL_PLAINTEXT with a client certificate",
			files: map[string]string{
				FileSecurityProtocol: "SASL_PLAINTEXT",
				FileCert:             pki.cert,
				FileKey:              pki.key,
				FileSASLMechanism:    "PLAIN",
				FileSASLUsername:     "hank",
				FileSASLPassword:     "x",
			},
			wantErr: []string{ProtocolSASLPlaintext, "conflicts", FileCert},
		},
		{
			name:    "unknown protocol",
			files:   map[string]string{FileSecurityProtocol: "QUIC"},
			wantErr: []string{`"QUIC"`, FileSecurityProtocol},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg Config
			switch {
			case tt.missingDir:
				cfg.ConfigDir = filepath.Join(t.TempDir(), "absent")
			case tt.files != nil:
				cfg.ConfigDir = writeFiles(t, tt.files)
			}

			sc, err := cfg.Sarama()
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("got no error, want one containing %q", tt.wantErr)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not contain %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Sarama: %v", err)
			}
			checkTLS(t, sc, tt.wantTLS, tt.wantCA, tt.wantCert, tt.wantInsecure)
			checkSASL(t, sc, tt.wantMechanism, tt.wantUser, tt.wantPassword, tt.wantSCRAMSize)
		})
	}
}

func checkTLS(t *testing.T, sc *sarama.Config, enabled, ca, cert, insecure bool) {
	t.Helper()
	if sc.Net.TLS.Enable != enabled {
		t.Fatalf("TLS enabled = %v, want %v", sc.Net.TLS.Enable, enabled)
	}
	if !enabled {
		return
	}
	tc := sc.Net.TLS.Config
	if tc == nil {
		t.Fatal("TLS enabled without a tls.Config")
	}
	if got := tc.RootCAs != nil; got != ca {
		t.Errorf("custom root CAs = %v, want %v", got, ca)
	}
	if got := len(tc.Certificates) == 1; got != cert {
		t.Errorf("client certificate = %v, want %v", got, cert)
	}
	if ca && cert {
		// The pool must hold the CA from ca.crt: the client certificate chains to it.
		opts := x509.VerifyOptions{
			Roots:     tc.RootCAs,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if _, err := tc.Certificates[0].Leaf.Verify(opts); err != nil {
			t.Errorf("client certificate does not chain to ca.crt: %v", err)
		}
	}
	if tc.InsecureSkipVerify != insecure {
		t.Errorf("InsecureSkipVerify = %v, want %v", tc.InsecureSkipVerify, insecure)
	}
}

func checkSASL(
	t *testing.T,
	sc *sarama.Config,
	mechanism sarama.SASLMechanism,
	user, password string,
	scramSize int,
) {
	t.Helper()
	if sc.Net.SASL.Enable != (mechanism != "") {
		t.Fatalf("SASL enabled = %v, want mechanism %q", sc.Net.SASL.Enable, mechanism)
	}
	if mechanism == "" {
		return
	}
	if sc.Net.SASL.Mechanism != mechanism || sc.Net.SASL.User != user ||
		sc.Net.SASL.Password != password {
		t.Errorf("SASL = %q %q %q, want %q %q %q", sc.Net.SASL.Mechanism, sc.Net.SASL.User,
			sc.Net.SASL.Password, mechanism, user, password)
	}

	gen := sc.Net.SASL.SCRAMClientGeneratorFunc
	if scramSize == 0 {
		if gen != nil {
			t.Error("SCRAM client generator set for a non-SCRAM mechanism")
		}
		return
	}
	if gen == nil {
		t.Fatal("no SCRAM client generator")
	}
	client, ok := gen().(*scramClient)
	if !ok {
		t.Fatalf("SCRAM client is %T, want *scramClient", gen())
	}
	if got := client.hash().Size(); got != scramSize {
		t.Errorf("SCRAM hash size = %d, want %d", got, scramSize)
	}
	if gen() == client {
		t.Error("SCRAM generator reuses one client; each connection needs its own")
	}
}

func TestParseBootstrapServers(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{in: "", want: nil},
		{in: " , ,", want: nil},
		{in: "kafka:9092", want: []string{"kafka:9092"}},
		{in: " a:9092, ,b:9093 ,\nc:9094,", want: []string{"a:9092", "b:9093", "c:9094"}},
	}
	for _, tt := range tests {
		if got := ParseBootstrapServers(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseBootstrapServers(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{
			name:    "no servers",
			cfg:     Config{},
			wantErr: "no Kafka bootstrap servers: set --kafka-bootstrap-servers",
		},
		{name: "one server", cfg: Config{BootstrapServers: []string{"kafka:9092"}}},
		{name: "IPv6 server", cfg: Config{BootstrapServers: []string{"[::1]:9092"}}},
		{
			name:    "server without port",
			cfg:     Config{BootstrapServers: []string{"kafka:9092", "kafka-1"}},
			wantErr: `"kafka-1"`,
		},
		{
			name: "negative timeout",
			cfg: Config{
				BootstrapServers: []string{"kafka:9092"},
				ReadTimeout:      -time.Second,
			},
			wantErr: "negative",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestBindFlags(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		wantServers []string
		wantDir     string
	}{
		{name: "unset", args: nil},
		{
			name: "both set",
			args: []string{
				"--kafka-bootstrap-servers= a:9092, b:9092,",
				"--kafka-config-dir", "/etc/eventpipe/kafka",
			},
			wantServers: []string{"a:9092", "b:9092"},
			wantDir:     "/etc/eventpipe/kafka",
		},
		{
			name:        "last occurrence wins",
			args:        []string{"--kafka-bootstrap-servers=a:1", "--kafka-bootstrap-servers=b:2"},
			wantServers: []string{"b:2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg Config
			fs := flag.NewFlagSet("manager", flag.ContinueOnError)
			cfg.BindFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(cfg.BootstrapServers, tt.wantServers) ||
				cfg.ConfigDir != tt.wantDir {
				t.Errorf("got servers %q dir %q, want %q %q", cfg.BootstrapServers,
					cfg.ConfigDir, tt.wantServers, tt.wantDir)
			}
		})
	}
}
