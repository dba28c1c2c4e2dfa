package runtime

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// health is what /readyz reports: ready once the worker has joined its
// consumer group, and not ready while any partition is stopped.
type health struct {
	mu      sync.Mutex
	joined  bool
	stopped map[int32]string // partition -> reason
	// failures counts the claims in a row of a partition that ended because
	// a batch could not become safe; it spaces the next claims.
	failures map[int32]int
}

func newHealth() *health { return &health{stopped: map[int32]string{}, failures: map[int32]int{}} }

func (h *health) setJoined(joined bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.joined = joined
}

// stop records that a partition no longer advances, and why.
func (h *health) stop(partition int32, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped[partition] = reason
}

// fail records that a claim of a partition ends because a batch cannot
// become safe, and why, and returns how many claims in a row did so.
func (h *health) fail(partition int32, reason string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped[partition] = reason
	h.failures[partition]++
	return h.failures[partition]
}

// resume clears a stopped partition.
func (h *health) resume(partition int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.stopped, partition)
	delete(h.failures, partition)
}

// keepOnly clears the partitions this worker no longer owns.
func (h *health) keepOnly(owned []int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	keep := map[int32]bool{}
	for _, p := range owned {
		keep[p] = true
	}
	for p := range h.stopped {
		if !keep[p] {
			delete(h.stopped, p)
			delete(h.failures, p)
		}
	}
}

// notReady returns why the worker is not ready, or "".
func (h *health) notReady() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.joined {
		return "not a member of the consumer group yet"
	}
	if len(h.stopped) == 0 {
		return ""
	}
	parts := make([]int32, 0, len(h.stopped))
	for p := range h.stopped {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	lines := make([]string, 0, len(parts))
	for _, p := range parts {
		lines = append(lines, fmt.Sprintf("partition %d stopped: %s", p, h.stopped[p]))
	}
	return strings.Join(lines, "\n")
}

func (h *health) healthz(w http.ResponseWriter, _ *http.Request) {
	_, _ = fmt.Fprintln(w, "ok")
}

func (h *health) readyz(w http.ResponseWriter, _ *http.Request) {
	if reason := h.notReady(); reason != "" {
		http.Error(w, reason, http.StatusServiceUnavailable)
		return
	}
	_, _ = fmt.Fprintln(w, "ok")
}

// handlers returns the muxes of the health and the metrics address; when
// both are the same address one mux serves all three paths.
func (r *Runner) handlers() (healthMux, metricsMux *http.ServeMux) {
	healthMux = http.NewServeMux()
	healthMux.HandleFunc("/healthz", r.health.healthz)
	healthMux.HandleFunc("/readyz", r.health.readyz)
	metricsMux = http.NewServeMux()
	metricsMux.Handle("/metrics", promhttp.HandlerFor(r.metrics.registry, promhttp.HandlerOpts{}))
	if r.opts.HealthAddr == r.opts.MetricsAddr {
		healthMux.Handle("/metrics", promhttp.HandlerFor(r.metrics.registry, promhttp.HandlerOpts{}))
	}
	return healthMux, metricsMux
}
