package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

// SetupIndexes registers the cache indexes the reconcilers look objects up by.
// Call it once per manager, before any SetupWithManager.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(ctx, &eventpipev1alpha1.EventStream{}, topicIndex,
		func(o client.Object) []string {
			return []string{o.(*eventpipev1alpha1.EventStream).EffectiveTopicName()}
		}); err != nil {
		return fmt.Errorf("index EventStreams by topic: %w", err)
	}
	if err := indexer.IndexField(ctx, &eventpipev1alpha1.Consumer{}, streamRefIndex,
		func(o client.Object) []string { return streamRefs(o.(*eventpipev1alpha1.Consumer)) }); err != nil {
		return fmt.Errorf("index Consumers by stream: %w", err)
	}
	if err := indexer.IndexField(ctx, &eventpipev1alpha1.AutoscalePolicy{}, policyTargetIndex,
		func(o client.Object) []string {
			return []string{o.(*eventpipev1alpha1.AutoscalePolicy).Spec.Target}
		}); err != nil {
		return fmt.Errorf("index AutoscalePolicies by target: %w", err)
	}
	return nil
}

// requestsByIndex lists the objects of list's kind in namespace whose index
// holds value, and returns a reconcile request for each: the mapping of every
// watch that wakes objects by what they refer to.
func requestsByIndex(
	ctx context.Context,
	c client.Reader,
	list client.ObjectList,
	namespace, index, value string,
) []reconcile.Request {
	if err := c.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{index: value}); err != nil {
		log.FromContext(ctx).Error(err, "Cannot list objects by index", "index", index, "value", value)
		return nil
	}
	var requests []reconcile.Request
	_ = meta.EachListItem(list, func(o runtime.Object) error {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o.(client.Object))})
		return nil
	})
	return requests
}
