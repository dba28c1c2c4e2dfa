// Package v1alpha1 holds the eventpipe.io/v1alpha1 API: EventStream, Consumer,
// RulePack and AutoscalePolicy.
//
// +kubebuilder:object:generate=true
// +groupName=eventpipe.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "eventpipe.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion,
		&EventStream{}, &EventStreamList{},
		&Consumer{}, &ConsumerList{},
		&RulePack{}, &RulePackList{},
		&AutoscalePolicy{}, &AutoscalePolicyList{},
	)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
