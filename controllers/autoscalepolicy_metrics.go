package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/controllers/autoscale"
)

// The manager's autoscaling metrics, served with controller-runtime's own.
var (
	autoscaleFloor = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "eventpipe_autoscale_floor_replicas",
		Help: "Replica floor an AutoscalePolicy set on its HorizontalPodAutoscaler.",
	}, []string{"namespace", "policy"})
	autoscaleDesired = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "eventpipe_autoscale_desired_replicas",
		Help: "Replicas an AutoscalePolicy's triggers want, before the rate limit and the breaker.",
	}, []string{"namespace", "policy"})
	autoscaleBreaker = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "eventpipe_autoscale_breaker_state",
		Help: "Circuit breaker state of an AutoscalePolicy: 0 Closed, 1 HalfOpen, 2 Open.",
	}, []string{"namespace", "policy"})
	autoscaleChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eventpipe_autoscale_changes_total",
		Help: "Floor changes an AutoscalePolicy applied.",
	}, []string{"namespace", "policy"})
	autoscaleRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eventpipe_autoscale_refused_total",
		Help: "Floor changes held back, by what held them: Stabilization or Breaker.",
	}, []string{"namespace", "policy", "guard"})
	autoscaleLagErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eventpipe_autoscale_lag_read_errors_total",
		Help: "Failed reads of consumer-group lag by an AutoscalePolicy.",
	}, []string{"namespace", "policy"})
)

func init() {
	metrics.Registry.MustRegister(autoscaleFloor, autoscaleDesired, autoscaleBreaker,
		autoscaleChanges, autoscaleRefused, autoscaleLagErrors)
}

func observePolicyMetrics(
	p *eventpipev1alpha1.AutoscalePolicy,
	st autoscale.State,
	d autoscale.Decision,
	_ autoscale.Observation,
) {
	ns, name := p.Namespace, p.Name
	autoscaleFloor.WithLabelValues(ns, name).Set(float64(st.Floor))
	autoscaleDesired.WithLabelValues(ns, name).Set(float64(d.Desired))
	state := 0.0
	switch st.Breaker {
	case autoscale.BreakerHalfOpen:
		state = 1
	case autoscale.BreakerOpen:
		state = 2
	}
	autoscaleBreaker.WithLabelValues(ns, name).Set(state)
	if d.Changed() {
		autoscaleChanges.WithLabelValues(ns, name).Inc()
	}
	if d.Refused {
		autoscaleRefused.WithLabelValues(ns, name, string(d.HeldBy)).Inc()
	}
}

// forgetPolicyMetrics drops the series of a deleted policy.
func forgetPolicyMetrics(key types.NamespacedName) {
	labels := prometheus.Labels{"namespace": key.Namespace, "policy": key.Name}
	for _, v := range []*prometheus.GaugeVec{autoscaleFloor, autoscaleDesired, autoscaleBreaker} {
		v.DeletePartialMatch(labels)
	}
	for _, v := range []*prometheus.CounterVec{autoscaleChanges, autoscaleRefused, autoscaleLagErrors} {
		v.DeletePartialMatch(labels)
	}
}
