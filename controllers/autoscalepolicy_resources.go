package controllers

import (
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

// Defaults of AutoscalePolicy fields left empty.
const (
	defaultMaxStep          = 4
	defaultScaleUpStable    = 0 * time.Second
	defaultScaleDownStable  = 300 * time.Second
	defaultMaxChanges       = 6
	defaultBreakerWindow    = 10 * time.Minute
	defaultFailureThreshold = 3
	defaultBreakerOpenFor   = 5 * time.Minute
	defaultSyncPeriod       = 5 * time.Second
	hpaPolicyPeriodSeconds  = 15
	defaultCommandMaxAge    = 2 * time.Minute
)

// renderHPA fills in the HorizontalPodAutoscaler of a policy: the floor the
// policy computed becomes minReplicas, so the HPA controller does the scaling.
// With a CPU trigger the HPA may go above the floor up to the cap; without
// one, minReplicas and maxReplicas are both the floor, since an HPA without
// metrics would fall back to scaling on 80% CPU.
func renderHPA(
	hpa *autoscalingv2.HorizontalPodAutoscaler,
	p *eventpipev1alpha1.AutoscalePolicy,
	floor, ceiling int32,
) {
	hpa.Labels = mergeLabels(hpa.Labels, map[string]string{
		LabelConsumer:                p.Spec.Target,
		"app.kubernetes.io/part-of":  "eventpipe",
		"app.kubernetes.io/instance": p.Spec.Target,
	})
	hpa.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{
		APIVersion: "apps/v1",
		Kind:       "Deployment",
		Name:       p.Spec.Target,
	}
	hpa.Spec.MinReplicas = ptr.To(floor)
	hpa.Spec.MaxReplicas = floor
	hpa.Spec.Metrics = nil
	if cpu := trigger(p, eventpipev1alpha1.TriggerCPU); cpu != nil {
		hpa.Spec.MaxReplicas = max(ceiling, floor)
		hpa.Spec.Metrics = []autoscalingv2.MetricSpec{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{
					Type:               autoscalingv2.UtilizationMetricType,
					AverageUtilization: cpu.TargetUtilization,
				},
			},
		}}
	}
	hpa.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp:   hpaRules(p.Spec.ScaleUp, defaultScaleUpStable),
		ScaleDown: hpaRules(p.Spec.ScaleDown, defaultScaleDownStable),
	}
}

func hpaRules(r *eventpipev1alpha1.ScalingRules, stable time.Duration) *autoscalingv2.HPAScalingRules {
	step := int32(defaultMaxStep)
	if r != nil && r.MaxStep != nil {
		step = *r.MaxStep
	}
	if r != nil && r.Stabilization != nil {
		stable = r.Stabilization.Duration
	}
	return &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptr.To(int32(stable.Seconds())),
		SelectPolicy:               ptr.To(autoscalingv2.MaxChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{{
			Type:          autoscalingv2.PodsScalingPolicy,
			Value:         step,
			PeriodSeconds: hpaPolicyPeriodSeconds,
		}},
	}
}

// trigger returns the policy's trigger of type t, or nil.
func trigger(p *eventpipev1alpha1.AutoscalePolicy, t eventpipev1alpha1.TriggerType) *eventpipev1alpha1.Trigger {
	for i := range p.Spec.Triggers {
		if p.Spec.Triggers[i].Type == t {
			return &p.Spec.Triggers[i]
		}
	}
	return nil
}
