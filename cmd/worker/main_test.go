package main

import (
	"math"
	"os"
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
		wantLimit int64 // the soft limit set
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
			limit, err := applyMemoryLimit(logr.Discard())
			if (err != nil) != tt.wantErr {
				t.Fatalf("applyMemoryLimit() error = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && limit != 268435456 {
				t.Errorf("applyMemoryLimit() = %d, want the container's limit 268435456", limit)
			}
			if got := debug.SetMemoryLimit(-1); got != tt.wantLimit {
				t.Errorf("memory limit = %d, want %d", got, tt.wantLimit)
			}
		})
	}
}

func TestBoundDedupStore(t *testing.T) {
	tests := []struct {
		name        string
		delivery    config.Delivery
		memoryLimit int64
		want        int64
	}{
		{name: "from the memory limit", delivery: config.Delivery{Guarantee: config.Idempotent},
			memoryLimit: 256 << 20, want: 256 << 20 / 4 / 40},
		{name: "dedupMaxKeys wins", delivery: config.Delivery{Guarantee: config.Idempotent, DedupMaxKeys: 5000},
			memoryLimit: 256 << 20, want: 5000},
		{name: "no memory limit: unbounded", delivery: config.Delivery{Guarantee: config.Idempotent}},
		{name: "no dedup store", delivery: config.Delivery{Guarantee: config.AtLeastOnce},
			memoryLimit: 256 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.delivery
			boundDedupStore(logr.Discard(), &d, tt.memoryLimit)
			if d.DedupMaxKeys != tt.want {
				t.Errorf("dedupMaxKeys = %d, want %d", d.DedupMaxKeys, tt.want)
			}
		})
	}
}

func TestApplyGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	tests := []struct {
		name      string
		guarantee string
		gogc      *string
		want      int
	}{
		{name: "the worker's own", guarantee: config.AtLeastOnce, want: gcPercent},
		{name: "Go's own for a dedup store", guarantee: config.Idempotent, want: 100},
		{name: "GOGC wins", guarantee: config.ExactlyOnce, gogc: ptr("150"), want: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			if tt.gogc != nil {
				t.Setenv("GOGC", *tt.gogc)
			} else {
				// t.Setenv restores the variable after the test; unset it within.
				t.Setenv("GOGC", "")
				_ = os.Unsetenv("GOGC")
			}
			applyGCPercent(tt.guarantee)
			if got := debug.SetGCPercent(100); got != tt.want {
				t.Errorf("GC percent = %d, want %d", got, tt.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }
