package podrunner

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// defaultPath is the PATH of the distroless base image.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// resolver reads what a container's env and volumes refer to: ConfigMap and
// Secret keys through the API, fields of the pod itself.
type resolver struct {
	client kubernetes.Interface
	pod    *corev1.Pod
}

// environment builds a container's environment as a kubelet would: the
// image's PATH and HOME, HOSTNAME, the kubernetes Service (pointing at the
// API server on loopback), envFrom, then env in order, each value expanded
// against what came before it. It returns the variables in order and as a map
// for expanding command and args.
func (r resolver) environment(
	ctx context.Context,
	c *corev1.Container,
	apiHost, apiPort string,
) ([]string, map[string]string, error) {
	env := map[string]string{
		"PATH":                    defaultPath,
		"HOME":                    "/",
		"HOSTNAME":                r.pod.Name,
		"KUBERNETES_SERVICE_HOST": apiHost,
		"KUBERNETES_SERVICE_PORT": apiPort,
	}
	order := []string{"PATH", "HOME", "HOSTNAME", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}
	set := func(k, v string) {
		if _, ok := env[k]; !ok {
			order = append(order, k)
		}
		env[k] = v
	}

	for _, from := range c.EnvFrom {
		values, err := r.envFrom(ctx, from)
		if err != nil {
			return nil, nil, err
		}
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			set(from.Prefix+k, values[k])
		}
	}
	for _, e := range c.Env {
		v, ok, err := r.envValue(ctx, c, e, env)
		if err != nil {
			return nil, nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			set(e.Name, v)
		}
	}

	list := make([]string, 0, len(order))
	for _, k := range order {
		list = append(list, k+"="+env[k])
	}
	return list, env, nil
}

// envValue resolves one env entry; ok is false for an optional reference to
// something missing, which sets nothing.
func (r resolver) envValue(
	ctx context.Context,
	c *corev1.Container,
	e corev1.EnvVar,
	defined map[string]string,
) (string, bool, error) {
	if e.ValueFrom == nil {
		return expand(e.Value, func(k string) (string, bool) { v, ok := defined[k]; return v, ok }), true, nil
	}
	from := e.ValueFrom
	switch {
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		return r.configMapKey(ctx, ref.Name, ref.Key, ref.Optional)
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		return r.secretKey(ctx, ref.Name, ref.Key, ref.Optional)
	case from.FieldRef != nil:
		v, err := r.field(from.FieldRef.FieldPath)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		v, err := containerResource(c, from.ResourceFieldRef)
		return v, err == nil, err
	}
	return "", false, fmt.Errorf("valueFrom names no source")
}

func (r resolver) envFrom(ctx context.Context, from corev1.EnvFromSource) (map[string]string, error) {
	switch {
	case from.ConfigMapRef != nil:
		name := from.ConfigMapRef.Name
		cm, err := r.client.CoreV1().ConfigMaps(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && isTrue(from.ConfigMapRef.Optional) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("get ConfigMap %s for envFrom: %w", from.ConfigMapRef.Name, err)
		}
		return cm.Data, nil
	case from.SecretRef != nil:
		s, err := r.client.CoreV1().Secrets(r.pod.Namespace).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && isTrue(from.SecretRef.Optional) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("get Secret %s for envFrom: %w", from.SecretRef.Name, err)
		}
		values := make(map[string]string, len(s.Data))
		for k, v := range s.Data {
			values[k] = string(v)
		}
		return values, nil
	}
	return nil, fmt.Errorf("envFrom names no source")
}

func (r resolver) configMapKey(
	ctx context.Context,
	name, key string,
	optional *bool,
) (string, bool, error) {
	cm, err := r.client.CoreV1().ConfigMaps(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && isTrue(optional) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("get ConfigMap %s: %w", name, err)
	}
	if v, ok := cm.Data[key]; ok {
		return v, true, nil
	}
	if v, ok := cm.BinaryData[key]; ok {
		return string(v), true, nil
	}
	if isTrue(optional) {
		return "", false, nil
	}
	return "", false, fmt.Errorf("ConfigMap %s has no key %s", name, key)
}

func (r resolver) secretKey(
	ctx context.Context,
	name, key string,
	optional *bool,
) (string, bool, error) {
	s, err := r.client.CoreV1().Secrets(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && isTrue(optional) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("get Secret %s: %w", name, err)
	}
	if v, ok := s.Data[key]; ok {
		return string(v), true, nil
	}
	if isTrue(optional) {
		return "", false, nil
	}
	return "", false, fmt.Errorf("secret %s has no key %s", name, key)
}

// field is the downward API: the fields of the pod a kubelet exposes.
func (r resolver) field(path string) (string, error) {
	p := r.pod
	switch path {
	case "metadata.name":
		return p.Name, nil
	case "metadata.namespace":
		return p.Namespace, nil
	case "metadata.uid":
		return string(p.UID), nil
	case "metadata.labels":
		return formatMap(p.Labels), nil
	case "metadata.annotations":
		return formatMap(p.Annotations), nil
	case "spec.nodeName":
		return p.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName, nil
	case "status.podIP":
		return p.Status.PodIP, nil
	case "status.hostIP":
		return p.Status.HostIP, nil
	case "status.podIPs":
		ips := make([]string, 0, len(p.Status.PodIPs))
		for _, ip := range p.Status.PodIPs {
			ips = append(ips, ip.IP)
		}
		return strings.Join(ips, ","), nil
	}
	for prefix, m := range map[string]map[string]string{
		"metadata.labels['":      p.Labels,
		"metadata.annotations['": p.Annotations,
	} {
		if strings.HasPrefix(path, prefix) && strings.HasSuffix(path, "']") {
			return m[strings.TrimSuffix(strings.TrimPrefix(path, prefix), "']")], nil
		}
	}
	return "", fmt.Errorf("field %s is not supported by the downward API", path)
}

// containerResource is a resourceFieldRef: the container's limit (or, without
// one, its request) divided by the divisor and rounded up.
//
// Limitation: a kubelet reports the node's allocatable capacity for a limit
// the container does not set; here the request stands in for it, since the
// fake node's capacity says nothing about this machine.
func containerResource(c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("resource %q is not limits.<name> or requests.<name>", ref.Resource)
	}
	q, found := c.Resources.Requests[corev1.ResourceName(name)]
	if kind == "limits" {
		if l, ok := c.Resources.Limits[corev1.ResourceName(name)]; ok {
			q, found = l, true
		}
	}
	if !found {
		return "", fmt.Errorf("container %s sets no %s", c.Name, ref.Resource)
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	v := math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue()))
	return fmt.Sprintf("%d", int64(v)), nil
}

// formatMap writes labels or annotations as the downward API does: one
// key="value" a line, sorted by key.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, 0, len(keys))
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return strings.Join(lines, "\n")
}

func isTrue(b *bool) bool { return b != nil && *b }
