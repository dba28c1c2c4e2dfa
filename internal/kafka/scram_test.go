package kafka

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"strings"
	"testing"
)

// The RFC 7677 section 3 example conversation.
const (
	rfcUser        = "user"
	rfcPassword    = "pencil"
	rfcNonce       = "rOprNGfwEbeRWgbNEkqO"
	rfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
	rfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," +
		"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	rfcClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," +
		"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	rfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
)

func fixedNonce(n string) func() (string, error) {
	return func() (string, error) { return n, nil }
}

func TestSCRAMSHA256RFC7677(t *testing.T) {
	c := newSCRAMClient(sha256.New)
	c.nonce = fixedNonce(rfcNonce)
	if err := c.Begin(rfcUser, rfcPassword, ""); err != nil {
		t.Fatalf("Begin: %v", err)
	}

	steps := []struct {
		challenge, want string
		done            bool
	}{
		{challenge: "", want: rfcClientFirst},
		{challenge: rfcServerFirst, want: rfcClientFinal},
		{challenge: rfcServerFinal, want: "", done: true},
	}
	for i, step := range steps {
		got, err := c.Step(step.challenge)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got != step.want {
			t.Fatalf("step %d: got %q, want %q", i, got, step.want)
		}
		if c.Done() != step.done {
			t.Fatalf("step %d: Done() = %v, want %v", i, c.Done(), step.done)
		}
	}

	if _, err := c.Step("v=anything"); err == nil {
		t.Fatal("Step after the conversation finished: want an error")
	}
}

func TestSCRAMRejects(t *testing.T) {
	badSig := "v=" + base64.StdEncoding.EncodeToString(make([]byte, sha256.Size))
	tests := []struct {
		name        string
		serverFirst string
		serverFinal string // used only when serverFirst is accepted
		wantErr     string
	}{
		{
			name:        "wrong server signature",
			serverFirst: rfcServerFirst,
			serverFinal: badSig,
			wantErr:     "verify SCRAM server signature",
		},
		{
			name:        "server error",
			serverFirst: rfcServerFirst,
			serverFinal: "e=invalid-proof",
			wantErr:     "invalid-proof",
		},
		{
			name:        "nonce not extending the client nonce",
			serverFirst: "r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			wantErr:     "server nonce",
		},
		{
			name:        "nonce equal to the client nonce",
			serverFirst: "r=" + rfcNonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			wantErr:     "server nonce",
		},
		{
			name:        "mandatory extension",
			serverFirst: "m=ext," + rfcServerFirst,
			wantErr:     "mandatory extension",
		},
		{
			name:        "zero iterations",
			serverFirst: "r=" + rfcNonce + "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
			wantErr:     "iteration count",
		},
		{
			name:        "bad salt",
			serverFirst: "r=" + rfcNonce + "x,s=!!!,i=4096",
			wantErr:     "salt",
		},
		{
			name:        "malformed message",
			serverFirst: "garbage",
			wantErr:     "malformed attribute",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newSCRAMClient(sha256.New)
			c.nonce = fixedNonce(rfcNonce)
			if err := c.Begin(rfcUser, rfcPassword, ""); err != nil {
				t.Fatalf("Begin: %v", err)
			}
			if _, err := c.Step(""); err != nil {
				t.Fatalf("first step: %v", err)
			}

			_, err := c.Step(tt.serverFirst)
			if err == nil {
				_, err = c.Step(tt.serverFinal)
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			if c.Done() {
				t.Fatal("Done() = true after a rejected exchange")
			}
		})
	}
}

// TestSCRAMAgainstServer runs both hashes against a server side written from RFC 5802's
// verification rule, with a name and an authorisation identity that need escaping.
func TestSCRAMAgainstServer(t *testing.T) {
	tests := []struct {
		name      string
		hash      func() hash.Hash
		user      string
		authzID   string
		wantFirst string
	}{
		{
			name:      "SHA-256",
			hash:      sha256.New,
			user:      "alice",
			wantFirst: "n,,n=alice,r=clientnonce",
		},
		{
			name:      "SHA-512 with escaping and authzid",
			hash:      sha512.New,
			user:      "a=b,c",
			authzID:   "ops,team",
			wantFirst: "n,a=ops=2Cteam,n=a=3Db=2Cc,r=clientnonce",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const password = "s3cret"
			salt := []byte("0123456789abcdef")
			c := newSCRAMClient(tt.hash)
			c.nonce = fixedNonce("clientnonce")
			if err := c.Begin(tt.user, password, tt.authzID); err != nil {
				t.Fatalf("Begin: %v", err)
			}
			first, err := c.Step("")
			if err != nil {
				t.Fatalf("first step: %v", err)
			}
			if first != tt.wantFirst {
				t.Fatalf("client-first-message %q, want %q", first, tt.wantFirst)
			}

			serverFirst := "r=clientnonceSERVER,s=" + base64.StdEncoding.EncodeToString(salt) +
				",i=4096"
			final, err := c.Step(serverFirst)
			if err != nil {
				t.Fatalf("final step: %v", err)
			}
			serverFinal := verifyProof(t, tt.hash, password, salt, first, serverFirst, final)
			if _, err := c.Step(serverFinal); err != nil {
				t.Fatalf("verify step: %v", err)
			}
			if !c.Done() {
				t.Fatal("Done() = false after a successful exchange")
			}
		})
	}
}

// verifyProof checks the client proof as a server would and returns the server-final
// message.
func verifyProof(
	t *testing.T,
	h func() hash.Hash,
	password string,
	salt []byte,
	clientFirst, serverFirst, clientFinal string,
) string {
	t.Helper()
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	salted, err := pbkdf2.Key(h, password, salt, 4096, h().Size())
	if err != nil {
		t.Fatalf("pbkdf2: %v", err)
	}
	stored := h()
	stored.Write(mac(salted, "Client Key"))

	i := strings.LastIndex(clientFinal, ",p=")
	withoutProof, proofB64 := clientFinal[:i], clientFinal[i+len(",p="):]
	// The gs2 header holds exactly two commas, since a name's commas are escaped.
	bare := strings.SplitN(clientFirst, ",", 3)[2]
	authMessage := bare + "," + serverFirst + "," + withoutProof

	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil {
		t.Fatalf("decode proof: %v", err)
	}
	clientKey := mac(stored.Sum(nil), authMessage)
	for j := range clientKey {
		clientKey[j] ^= proof[j]
	}
	check := h()
	check.Write(clientKey)
	if !hmac.Equal(check.Sum(nil), stored.Sum(nil)) {
		t.Fatal("server side: client proof does not verify")
	}
	return "v=" + base64.StdEncoding.EncodeToString(mac(mac(salted, "Server Key"), authMessage))
}
