package podrunner

import (
	"reflect"
	"testing"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"KAFKA": "127.0.0.1:9092", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name, in, want string
	}{
		{"no reference", "--leader-elect", "--leader-elect"},
		{"defined", "--kafka-bootstrap-servers=$(KAFKA)", "--kafka-bootstrap-servers=127.0.0.1:9092"},
		{"defined empty", "a$(EMPTY)b", "ab"},
		{"undefined stays", "$(MISSING)/x", "$(MISSING)/x"},
		{"escaped reference", "$$(KAFKA)", "$(KAFKA)"},
		{"escaped dollar", "cost: $$5", "cost: $5"},
		{"lone dollar", "a$b", "a$b"},
		{"trailing dollar", "a$", "a$"},
		{"unclosed", "x$(KAFKA", "x$(KAFKA"},
		{"two references", "$(KAFKA),$(KAFKA)", "127.0.0.1:9092,127.0.0.1:9092"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := expand(tt.in, lookup); got != tt.want {
				t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRewriteAddresses(t *testing.T) {
	flags := []string{"health-probe-bind-address", "metrics-bind-address"}
	tests := []struct {
		name      string
		args      []string
		want      []string
		addresses map[string]string
	}{
		{
			name: "equals form",
			args: []string{"--processor=passthrough",
				"--health-probe-bind-address=:8081", "--metrics-bind-address=:9090"},
			want: []string{"--processor=passthrough",
				"--health-probe-bind-address=127.0.0.1:40001", "--metrics-bind-address=127.0.0.1:40002"},
			addresses: map[string]string{
				"health-probe-bind-address": "127.0.0.1:40001", "metrics-bind-address": "127.0.0.1:40002",
			},
		},
		{
			name:      "separate value and single dash",
			args:      []string{"-health-probe-bind-address", ":8081", "--leader-elect"},
			want:      []string{"-health-probe-bind-address", "127.0.0.1:40001", "--leader-elect"},
			addresses: map[string]string{"health-probe-bind-address": "127.0.0.1:40001"},
		},
		{
			name:      "listener off is kept",
			args:      []string{"--metrics-bind-address=0", "--health-probe-bind-address=:8081"},
			want:      []string{"--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:40001"},
			addresses: map[string]string{"health-probe-bind-address": "127.0.0.1:40001"},
		},
		{
			name:      "other flags untouched",
			args:      []string{"--metrics-secure=true", "--bind-address=:1"},
			want:      []string{"--metrics-secure=true", "--bind-address=:1"},
			addresses: map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := 40000
			port := func() (int, error) { next++; return next, nil }
			got, addresses, err := rewriteAddresses(tt.args, flags, port)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("args = %q, want %q", got, tt.want)
			}
			if !reflect.DeepEqual(addresses, tt.addresses) {
				t.Errorf("addresses = %v, want %v", addresses, tt.addresses)
			}
		})
	}
}

func TestImageMatches(t *testing.T) {
	tests := []struct {
		image, prefix string
		want          bool
	}{
		{"ghcr.io/eventpipe/manager:e2e", "ghcr.io/eventpipe/manager", true},
		{"ghcr.io/eventpipe/manager@sha256:abc", "ghcr.io/eventpipe/manager", true},
		{"ghcr.io/eventpipe/manager", "ghcr.io/eventpipe/manager", true},
		{"ghcr.io/eventpipe/manager-sidecar:1", "ghcr.io/eventpipe/manager", false},
		{"registry.local/pause:1", "ghcr.io/eventpipe/manager", false},
	}
	for _, tt := range tests {
		if got := imageMatches(tt.image, tt.prefix); got != tt.want {
			t.Errorf("imageMatches(%q, %q) = %v, want %v", tt.image, tt.prefix, got, tt.want)
		}
	}
}
