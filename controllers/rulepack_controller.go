package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/controllers/conditions"
	"github.com/eventpipe/eventpipe/controllers/rules"
)

// RulePackReconciler compiles each RulePack's CEL rules and reports the result:
// the version workers will run, or the rule that does not compile and why.
//
// Limitation: workers do not load RulePacks yet, so status.consumers stays
// empty; the pack is checked and versioned, not yet delivered.
type RulePackReconciler struct {
	client.Client

	// Recorder emits Kubernetes events about RulePacks.
	Recorder events.EventRecorder
}

// +kubebuilder:rbac:groups=eventpipe.io,resources=rulepacks,verbs=get;list;watch
// +kubebuilder:rbac:groups=eventpipe.io,resources=rulepacks/status,verbs=get;update;patch

// Reconcile compiles one RulePack.
func (r *RulePackReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pack := &eventpipev1alpha1.RulePack{}
	if err := r.Get(ctx, req.NamespacedName, pack); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}

	base := pack.DeepCopy()
	compiled, compileErr := rules.Compile(pack.Spec)
	pack.Status.ObservedGeneration = pack.Generation
	if compileErr != nil {
		msg := fmt.Sprintf("The pack does not compile and reaches no worker: %s", compileErr)
		if conditions.Set(&pack.Status.Conditions, pack.Generation, eventpipev1alpha1.ConditionReady,
			metav1.ConditionFalse, eventpipev1alpha1.ReasonCompileFailed, msg) {
			r.Recorder.Eventf(pack, nil, corev1.EventTypeWarning, eventpipev1alpha1.ReasonCompileFailed,
				"Compile", msg)
		}
		pack.Status.RuleCount = 0
	} else {
		pack.Status.Version, pack.Status.RuleCount = compiled.Version, int32(len(compiled.Rules))
		conditions.Set(&pack.Status.Conditions, pack.Generation, eventpipev1alpha1.ConditionReady,
			metav1.ConditionTrue, eventpipev1alpha1.ReasonRulesCompiled,
			fmt.Sprintf("%d rules compiled; version %s.", len(compiled.Rules), compiled.Version))
		log.FromContext(ctx).V(1).Info("Compiled rules", "version", compiled.Version, "rules", len(compiled.Rules))
	}

	if err := r.Status().Patch(ctx, pack, client.MergeFrom(base)); err != nil {
		return ctrl.Result{}, errors.Join(compileErr, fmt.Errorf("patch status: %w", err))
	}
	if compileErr != nil {
		return ctrl.Result{}, reconcile.TerminalError(compileErr)
	}
	return ctrl.Result{}, nil
}

// SetupWithManager registers the reconciler.
func (r *RulePackReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&eventpipev1alpha1.RulePack{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("rulepack").
		Complete(r)
}
