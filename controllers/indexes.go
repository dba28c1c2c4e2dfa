package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
