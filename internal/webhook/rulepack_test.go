package webhook

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

func TestRulePackValidator(t *testing.T) {
	mk := func(condition string) *eventpipev1alpha1.RulePack {
		return &eventpipev1alpha1.RulePack{
			ObjectMeta: metav1.ObjectMeta{Name: "fraud"},
			Spec:       eventpipev1alpha1.RulePackSpec{Rules: []eventpipev1alpha1.Rule{{Name: "r1", Condition: condition}}},
		}
	}
	v := RulePackValidator{}
	if _, err := v.ValidateCreate(context.Background(), mk("data.amount > 10")); err != nil {
		t.Errorf("ValidateCreate() of a good pack = %v", err)
	}
	_, err := v.ValidateUpdate(context.Background(), mk("true"), mk("data.amount >"))
	if err == nil || !strings.Contains(err.Error(), "RulePack fraud does not compile: rule r1:") {
		t.Errorf("ValidateUpdate() of a broken pack = %v, want the pack and rule named", err)
	}
	if _, err := v.ValidateDelete(context.Background(), mk("nonsense(")); err != nil {
		t.Errorf("ValidateDelete() = %v, want every deletion allowed", err)
	}
}
