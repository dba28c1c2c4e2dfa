package main

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/go-logr/logr"

	"github.com/eventpipe/eventpipe/workers/config"
)

func TestApplyMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	tests := []struct {
		name      string
		env       string
		gomemlim  string
		wantLimit int64
		wantErr   bool
	}{
		{name: "container limit", env: "268435456", wantLimit: 241591910},
		{name: "GOMEMLIMIT wins", env: "268435456", gomemlim: "100MiB", wantLimit: math.MaxInt64},
		{name: "not a number", env: "256Mi", wantErr: true, wantLimit: math.MaxInt64},
		{name: "zero", env: "0", wantErr: true, wantLimit: math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			t.Setenv(config.MemoryLimitEnv, tt.env)
			t.Setenv("GOMEMLIMIT", tt.gomemlim)
			err := applyMemoryLimit(logr.Discard())
			if (err != nil) != tt.wantErr {
				t.Fatalf("applyMemoryLimit() error = %v, want error %v", err, tt.wantErr)
			}
			if got := debug.SetMemoryLimit(-1); got != tt.wantLimit {
				t.Errorf("memory limit = %d, want %d", got, tt.wantLimit)
			}
		})
	}
}
