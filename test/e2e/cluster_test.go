//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

// run runs a tool, printing the command and its output to GinkgoWriter, and
// returns its stdout.
func run(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = env.root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	GinkgoWriter.Printf("$ %s %s\n", filepath.Base(name), strings.Join(args, " "))
	err := cmd.Run()
	if stderr.Len() > 0 {
		GinkgoWriter.Printf("%s", stderr.String())
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "),
			err, stderr.String())
	}
	return stdout.String(), nil
}

func kubectl(args ...string) (string, error) { return run(env.kubectl, args...) }

// applyFiles applies manifests of the repository into namespace, as a user would.
func applyFiles(namespace string, files ...string) {
	args := []string{"apply", "--server-side", "-n", namespace}
	for _, f := range files {
		args = append(args, "-f", filepath.Join(env.root, f))
	}
	out, err := kubectl(args...)
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Print(out)
}

// createNamespace creates a namespace that enforces the restricted Pod
// Security Standard, as the worker pods the operator renders must meet it.
func createNamespace(name string) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
	}}}
	Expect(env.k8s.Create(context.Background(), ns)).To(Succeed())
}

// deleteNamespace deletes a namespace and waits until it is gone; the
// operator must still run, to release the finalizers of its objects.
func deleteNamespace(name string) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	err := env.k8s.Delete(context.Background(), ns)
	if apierrors.IsNotFound(err) {
		return
	}
	Expect(err).NotTo(HaveOccurred())
	Eventually(func(g Gomega) {
		err := env.k8s.Get(context.Background(), client.ObjectKey{Name: name}, ns)
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "namespace %s still exists: %v", name, ns.Status)
	}).WithTimeout(cleanupTimeout).WithPolling(poll).Should(Succeed())
}

// conditioned is an eventpipe object with status conditions.
type conditioned interface {
	client.Object
	conditions() []metav1.Condition
}

type eventStream struct{ eventpipev1alpha1.EventStream }
type consumer struct{ eventpipev1alpha1.Consumer }
type autoscalePolicy struct {
	eventpipev1alpha1.AutoscalePolicy
}
type rulePack struct{ eventpipev1alpha1.RulePack }

func (o *eventStream) conditions() []metav1.Condition     { return o.Status.Conditions }
func (o *consumer) conditions() []metav1.Condition        { return o.Status.Conditions }
func (o *autoscalePolicy) conditions() []metav1.Condition { return o.Status.Conditions }
func (o *rulePack) conditions() []metav1.Condition        { return o.Status.Conditions }

// expectReady waits until an object's Ready condition is True for its
// current generation.
func expectReady(obj conditioned, key types.NamespacedName) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(env.k8s.Get(context.Background(), key, inner(obj))).To(Succeed())
		ready := meta.FindStatusCondition(obj.conditions(), eventpipev1alpha1.ConditionReady)
		g.Expect(ready).NotTo(BeNil(), "%s has no Ready condition yet", key)
		g.Expect(ready.Status).To(Equal(metav1.ConditionTrue), "%s: %s: %s", key, ready.Reason, ready.Message)
		g.Expect(ready.ObservedGeneration).To(Equal(obj.GetGeneration()), "%s: Ready is stale", key)
	}).WithTimeout(readyTimeout).WithPolling(poll).Should(Succeed())
}

// inner returns the API object a wrapper holds, for the client.
func inner(obj conditioned) client.Object {
	switch o := obj.(type) {
	case *eventStream:
		return &o.EventStream
	case *consumer:
		return &o.Consumer
	case *autoscalePolicy:
		return &o.AutoscalePolicy
	case *rulePack:
		return &o.RulePack
	}
	panic(fmt.Sprintf("unknown kind %T", obj))
}

// expectMembers waits until exactly want members run for the pods with these
// labels, every one ready.
func expectMembers(namespace string, selector map[string]string, want int) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		members, err := env.workloads.members(context.Background(), namespace, selector)
		g.Expect(err).NotTo(HaveOccurred())
		running, ready := counts(members)
		g.Expect(running).To(Equal(want), "running members of %v in %s: %+v", selector, namespace, members)
		g.Expect(ready).To(Equal(want), "ready members of %v in %s: %+v", selector, namespace, members)
	}).WithTimeout(scaleTimeout).WithPolling(poll).Should(Succeed())
}

// expectManager waits until one manager runs, ready and never restarted.
func expectManager() member {
	GinkgoHelper()
	var m member
	Eventually(func(g Gomega) {
		members, err := env.workloads.members(context.Background(), env.releaseNS, env.managerSelector)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(members).To(HaveLen(1), "manager processes: %+v", members)
		m = members[0]
		g.Expect(m.restarts).To(BeZero(), "the manager restarted; see its log")
		g.Expect(m.ready).To(BeTrue(), "the manager is not ready yet")
	}).WithTimeout(installTimeout).WithPolling(poll).Should(Succeed())
	return m
}

// expectManagerGone waits until no manager process or pod runs.
func expectManagerGone() {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		members, err := env.workloads.members(context.Background(), env.releaseNS, env.managerSelector)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(members).To(BeEmpty())
	}).WithTimeout(cleanupTimeout).WithPolling(poll).Should(Succeed())
}

// expectLeader waits until the manager pod holds the leader election Lease,
// which it can only do on its in-cluster credentials with the Lease RBAC.
func expectLeader(pod string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		out, err := kubectl("-n", env.releaseNS, "get", "lease", "eventpipe-manager.eventpipe.io",
			"-o", "jsonpath={.spec.holderIdentity}")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(out).To(HavePrefix(pod + "_"))
	}).WithTimeout(installTimeout).WithPolling(poll).Should(Succeed())
}

// workerSelector selects the worker pods of a Consumer.
func workerSelector(consumerName string) map[string]string {
	return map[string]string{"eventpipe.io/consumer": consumerName}
}
