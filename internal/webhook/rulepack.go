package webhook

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/controllers/rules"
)

// +kubebuilder:webhook:path=/validate-eventpipe-io-v1alpha1-rulepack,mutating=false,failurePolicy=fail,sideEffects=None,groups=eventpipe.io,resources=rulepacks,verbs=create;update,versions=v1alpha1,name=vrulepack.eventpipe.io,admissionReviewVersions=v1

// RulePackValidator refuses RulePacks whose rules do not compile, naming the
// rule and quoting the compiler.
type RulePackValidator struct{}

// SetupRulePackWebhook registers the RulePack validating webhook.
func SetupRulePackWebhook(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &eventpipev1alpha1.RulePack{}).
		WithValidator(RulePackValidator{}).
		Complete()
}

// ValidateCreate checks a new RulePack.
func (RulePackValidator) ValidateCreate(_ context.Context, p *eventpipev1alpha1.RulePack) (admission.Warnings, error) {
	return nil, compile(p)
}

// ValidateUpdate checks a changed RulePack.
func (RulePackValidator) ValidateUpdate(
	_ context.Context,
	_, p *eventpipev1alpha1.RulePack,
) (admission.Warnings, error) {
	return nil, compile(p)
}

// ValidateDelete allows every deletion.
func (RulePackValidator) ValidateDelete(context.Context, *eventpipev1alpha1.RulePack) (admission.Warnings, error) {
	return nil, nil
}

func compile(p *eventpipev1alpha1.RulePack) error {
	if _, err := rules.Compile(p.Spec); err != nil {
		return fmt.Errorf("RulePack %s does not compile: %w", p.Name, err)
	}
	return nil
}
