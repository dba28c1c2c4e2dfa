package controllers

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// fieldOwner is the server-side apply field manager of everything the
// operator renders.
const fieldOwner = client.FieldOwner("eventpipe-manager")

// applyOwned server-side applies obj, rendered from scratch with only the
// fields the operator cares about, as a child of owner. The API server merges
// it with what others manage, such as the HorizontalPodAutoscaler's replica
// count and the defaults it filled in, and changes nothing when nothing
// differs, so reconciling an owned object never rewrites it for no reason.
// On return obj holds the object as the server has it.
func applyOwned(ctx context.Context, c client.Client, owner, obj client.Object) error {
	gvk, err := apiutil.GVKForObject(obj, c.Scheme())
	if err != nil {
		return fmt.Errorf("find kind of %T: %w", obj, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	if err := controllerutil.SetControllerReference(owner, obj, c.Scheme()); err != nil {
		return fmt.Errorf("set owner of %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	obj.SetManagedFields(nil)
	obj.SetResourceVersion("")
	data, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	patch := client.RawPatch(types.ApplyPatchType, data)
	if err := c.Patch(ctx, obj, patch, fieldOwner, client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	return nil
}
