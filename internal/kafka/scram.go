package kafka

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// scramNonceBytes is the amount of randomness in a client nonce; 18 bytes encode to 24
// printable characters without padding.
const scramNonceBytes = 18

// The stages of a SCRAM conversation, in order.
const (
	scramStart = iota
	scramSentFirst
	scramSentFinal
	scramDone
)

// scramClient is the client side of SCRAM (RFC 5802) with the hash chosen by the caller:
// SHA-256 (RFC 7677) or SHA-512. It implements sarama.SCRAMClient, and one value serves
// exactly one conversation.
//
// Limitation: the password is not SASLprep-normalised. Kafka's broker does not normalise
// either, so this matches what the broker stored; non-ASCII passwords are used as UTF-8.
type scramClient struct {
	hash  func() hash.Hash
	nonce func() (string, error)

	stage       int
	username    string
	password    string
	gs2Header   string
	clientNonce string
	clientFirst string // the client-first-message-bare
	serverSig   []byte
}

func newSCRAMClient(h func() hash.Hash) *scramClient {
	return &scramClient{hash: h, nonce: randomNonce}
}

func randomNonce() (string, error) {
	b := make([]byte, scramNonceBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate SCRAM nonce: %w", err)
	}
	return base64.RawStdEncoding.EncodeToString(b), nil
}

// Begin starts a conversation for userName, optionally acting as authzID.
func (c *scramClient) Begin(userName, password, authzID string) error {
	if c.stage != scramStart {
		return errors.New("begin SCRAM exchange: conversation already started")
	}
	c.username = userName
	c.password = password
	c.gs2Header = "n,,"
	if authzID != "" {
		c.gs2Header = "n,a=" + escapeSASLName(authzID) + ","
	}
	return nil
}

// Step answers the server's challenge; the first call takes an empty challenge.
func (c *scramClient) Step(challenge string) (string, error) {
	switch c.stage {
	case scramStart:
		return c.first()
	case scramSentFirst:
		return c.final(challenge)
	case scramSentFinal:
		return "", c.verify(challenge)
	}
	return "", errors.New("step SCRAM exchange: conversation already finished")
}

// Done reports whether the server has proved that it knows the password.
func (c *scramClient) Done() bool {
	return c.stage == scramDone
}

func (c *scramClient) first() (string, error) {
	nonce, err := c.nonce()
	if err != nil {
		return "", err
	}
	c.clientNonce = nonce
	c.clientFirst = "n=" + escapeSASLName(c.username) + ",r=" + nonce
	c.stage = scramSentFirst
	return c.gs2Header + c.clientFirst, nil
}

func (c *scramClient) final(serverFirst string) (string, error) {
	attrs, err := parseSCRAMAttrs(serverFirst)
	if err != nil {
		return "", fmt.Errorf("parse SCRAM server-first-message: %w", err)
	}
	if _, ok := attrs['m']; ok {
		return "", errors.New("parse SCRAM server-first-message: unsupported mandatory extension")
	}
	nonce := attrs['r']
	if !strings.HasPrefix(nonce, c.clientNonce) || len(nonce) == len(c.clientNonce) {
		return "", errors.New("check SCRAM server nonce: does not extend the client nonce")
	}
	salt, err := base64.StdEncoding.DecodeString(attrs['s'])
	if err != nil || len(salt) == 0 {
		return "", fmt.Errorf("decode SCRAM salt %q: invalid base64 or empty", attrs['s'])
	}
	iterations, err := strconv.Atoi(attrs['i'])
	if err != nil || iterations < 1 {
		return "", fmt.Errorf("parse SCRAM iteration count %q: not a positive integer", attrs['i'])
	}

	salted, err := pbkdf2.Key(c.hash, c.password, salt, iterations, c.hash().Size())
	if err != nil {
		return "", fmt.Errorf("derive SCRAM salted password: %w", err)
	}
	clientKey := c.hmac(salted, "Client Key")
	storedKey := c.sum(clientKey)
	withoutProof := "c=" + base64.StdEncoding.EncodeToString([]byte(c.gs2Header)) +
		",r=" + nonce
	authMessage := c.clientFirst + "," + serverFirst + "," + withoutProof

	proof := c.hmac(storedKey, authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	c.serverSig = c.hmac(c.hmac(salted, "Server Key"), authMessage)
	c.stage = scramSentFinal
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
}

func (c *scramClient) verify(serverFinal string) error {
	attrs, err := parseSCRAMAttrs(serverFinal)
	if err != nil {
		return fmt.Errorf("parse SCRAM server-final-message: %w", err)
	}
	if reason, ok := attrs['e']; ok {
		return fmt.Errorf("authenticate with SCRAM: server refused: %s", reason)
	}
	sig, err := base64.StdEncoding.DecodeString(attrs['v'])
	if err != nil {
		return fmt.Errorf("decode SCRAM server signature: %w", err)
	}
	if !hmac.Equal(sig, c.serverSig) {
		return errors.New("verify SCRAM server signature: mismatch, the server does not know " +
			"the password")
	}
	c.stage = scramDone
	return nil
}

func (c *scramClient) hmac(key []byte, msg string) []byte {
	mac := hmac.New(c.hash, key)
	mac.Write([]byte(msg))
	return mac.Sum(nil)
}

func (c *scramClient) sum(b []byte) []byte {
	h := c.hash()
	h.Write(b)
	return h.Sum(nil)
}

// parseSCRAMAttrs splits "k=v,k=v" into a map keyed by the one-letter attribute names.
func parseSCRAMAttrs(msg string) (map[byte]string, error) {
	attrs := map[byte]string{}
	for _, field := range strings.Split(msg, ",") {
		if len(field) < 2 || field[1] != '=' {
			return nil, fmt.Errorf("malformed attribute %q", field)
		}
		attrs[field[0]] = field[2:]
	}
	return attrs, nil
}

// escapeSASLName encodes the two characters RFC 5802 reserves in user names.
func escapeSASLName(name string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(name)
}
