package controllers

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

var _ = Describe("RulePack", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace("rp") })

	get := func(g Gomega, p *eventpipev1alpha1.RulePack) *eventpipev1alpha1.RulePack {
		out := &eventpipev1alpha1.RulePack{}
		g.Expect(k8sClient.Get(suiteCtx, client.ObjectKeyFromObject(p), out)).To(Succeed())
		return out
	}

	Context("when every rule compiles", func() {
		It("should report Ready with the version and the rule count", func() {
			p := &eventpipev1alpha1.RulePack{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fraud"},
				Spec: eventpipev1alpha1.RulePackSpec{
					Params: &apiextensionsv1.JSON{Raw: []byte(`{"highAmount": 5000}`)},
					Rules: []eventpipev1alpha1.Rule{{Name: "high-amount-new-device",
						Condition: "data.amount > params.highAmount && data.device.ageDays < 2"}},
				},
			}
			Expect(k8sClient.Create(suiteCtx, p)).To(Succeed())
			Eventually(func(g Gomega) {
				got := get(g, p)
				g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, eventpipev1alpha1.ConditionReady)).To(BeTrue())
				g.Expect(got.Status.RuleCount).To(BeEquivalentTo(1))
				g.Expect(got.Status.Version).To(HaveLen(7))
			}, eventually, poll).Should(Succeed())
		})
	})

	Context("when a rule does not compile", func() {
		It("should name the rule and quote the compiler", func() {
			p := &eventpipev1alpha1.RulePack{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "broken"},
				Spec: eventpipev1alpha1.RulePackSpec{Rules: []eventpipev1alpha1.Rule{
					{Name: "fine", Condition: "true"},
					{Name: "typo", Condition: "dta.amount > 1"},
				}},
			}
			Expect(k8sClient.Create(suiteCtx, p)).To(Succeed())
			Eventually(func(g Gomega) {
				c := meta.FindStatusCondition(get(g, p).Status.Conditions, eventpipev1alpha1.ConditionReady)
				g.Expect(c).NotTo(BeNil())
				g.Expect(c.Reason).To(Equal(eventpipev1alpha1.ReasonCompileFailed))
				g.Expect(c.Message).To(ContainSubstring("rule typo:"))
				g.Expect(c.Message).To(ContainSubstring("undeclared reference to 'dta'"))
			}, eventually, poll).Should(Succeed())
			expectEvent(&eventpipev1alpha1.EventStream{ObjectMeta: p.ObjectMeta}, corev1.EventTypeWarning,
				eventpipev1alpha1.ReasonCompileFailed)
		})
	})
})
