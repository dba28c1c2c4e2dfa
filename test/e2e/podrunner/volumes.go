package podrunner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// defaultFileMode is the mode of volume files a volume gives no mode for.
const defaultFileMode = 0o644

// volume is a pod volume written to the host, ready to be mounted.
type volume struct {
	// dir holds the volume's files, relative to the pod's directory.
	dir string
	// tmpfs is set for an emptyDir of medium Memory, mounted as a tmpfs of
	// this size ("" for no limit) instead of a directory.
	tmpfs *string
}

// materialize writes each of the pod's volumes into podDir/volumes/<name>.
//
// Limitation: the files are written once, when the process starts; a kubelet
// refreshes ConfigMap and Secret volumes while the pod runs. The operator
// rolls its workers when their configuration changes, so no process here
// waits for a refresh.
func (r resolver) materialize(ctx context.Context, podDir string) (map[string]volume, error) {
	volumes := map[string]volume{}
	for _, v := range r.pod.Spec.Volumes {
		rel := filepath.Join("volumes", v.Name)
		dir := filepath.Join(podDir, rel)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create volume directory: %w", err)
		}
		vol := volume{dir: rel}
		var err error
		switch {
		case v.ConfigMap != nil:
			err = r.writeConfigMap(ctx, dir, v.ConfigMap.Name, v.ConfigMap.Items,
				v.ConfigMap.Optional, v.ConfigMap.DefaultMode)
		case v.Secret != nil:
			err = r.writeSecret(ctx, dir, v.Secret.SecretName, v.Secret.Items,
				v.Secret.Optional, v.Secret.DefaultMode)
		case v.DownwardAPI != nil:
			err = r.writeDownwardAPI(dir, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
		case v.Projected != nil:
			err = r.writeProjected(ctx, dir, v.Projected)
		case v.EmptyDir != nil:
			// Writable by whichever user the container runs as, like a kubelet's.
			err = os.Chmod(dir, 0o777)
			if v.EmptyDir.Medium == corev1.StorageMediumMemory {
				size := ""
				if v.EmptyDir.SizeLimit != nil {
					size = v.EmptyDir.SizeLimit.String()
				}
				vol.tmpfs = &size
			}
		default:
			err = fmt.Errorf("only configMap, secret, downwardAPI, projected and emptyDir volumes are supported")
		}
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		volumes[v.Name] = vol
	}
	return volumes, nil
}

func (r resolver) writeConfigMap(
	ctx context.Context,
	dir, name string,
	items []corev1.KeyToPath,
	optional *bool,
	defaultMode *int32,
) error {
	cm, err := r.client.CoreV1().ConfigMaps(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && isTrue(optional) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get ConfigMap %s: %w", name, err)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return writeKeys(dir, "ConfigMap "+name, data, items, optional, defaultMode)
}

func (r resolver) writeSecret(
	ctx context.Context,
	dir, name string,
	items []corev1.KeyToPath,
	optional *bool,
	defaultMode *int32,
) error {
	s, err := r.client.CoreV1().Secrets(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && isTrue(optional) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get Secret %s: %w", name, err)
	}
	return writeKeys(dir, "Secret "+name, s.Data, items, optional, defaultMode)
}

// writeKeys writes every key of data, or only items when there are any.
func writeKeys(
	dir, what string,
	data map[string][]byte,
	items []corev1.KeyToPath,
	optional *bool,
	defaultMode *int32,
) error {
	if len(items) == 0 {
		for k, v := range data {
			if err := writeFile(dir, k, v, nil, defaultMode); err != nil {
				return err
			}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if isTrue(optional) {
				continue
			}
			return fmt.Errorf("%s has no key %s", what, it.Key)
		}
		if err := writeFile(dir, it.Path, v, it.Mode, defaultMode); err != nil {
			return err
		}
	}
	return nil
}

func (r resolver) writeDownwardAPI(
	dir string,
	items []corev1.DownwardAPIVolumeFile,
	defaultMode *int32,
) error {
	for _, it := range items {
		if it.FieldRef == nil {
			return fmt.Errorf("downwardAPI item %s: only fieldRef is supported", it.Path)
		}
		v, err := r.field(it.FieldRef.FieldPath)
		if err != nil {
			return err
		}
		if err := writeFile(dir, it.Path, []byte(v), it.Mode, defaultMode); err != nil {
			return err
		}
	}
	return nil
}

// writeProjected writes every source of a projected volume into one
// directory; the ServiceAccount token comes from the TokenRequest API, bound
// to the pod, as a kubelet requests it.
//
// Limitation: the token is requested once and never rotated. The API server
// issues the kube-api-access token for an hour at least, longer than a run of
// the suite, so nothing here outlives it.
func (r resolver) writeProjected(
	ctx context.Context,
	dir string,
	p *corev1.ProjectedVolumeSource,
) error {
	for _, src := range p.Sources {
		var err error
		switch {
		case src.ConfigMap != nil:
			err = r.writeConfigMap(ctx, dir, src.ConfigMap.Name, src.ConfigMap.Items,
				src.ConfigMap.Optional, p.DefaultMode)
		case src.Secret != nil:
			err = r.writeSecret(ctx, dir, src.Secret.Name, src.Secret.Items,
				src.Secret.Optional, p.DefaultMode)
		case src.DownwardAPI != nil:
			err = r.writeDownwardAPI(dir, src.DownwardAPI.Items, p.DefaultMode)
		case src.ServiceAccountToken != nil:
			err = r.writeToken(ctx, dir, src.ServiceAccountToken, p.DefaultMode)
		default:
			err = fmt.Errorf("only configMap, secret, downwardAPI and serviceAccountToken " +
				"projections are supported")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r resolver) writeToken(
	ctx context.Context,
	dir string,
	src *corev1.ServiceAccountTokenProjection,
	defaultMode *int32,
) error {
	sa := r.pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: src.ExpirationSeconds,
		BoundObjectRef: &authenticationv1.BoundObjectReference{
			APIVersion: "v1", Kind: "Pod", Name: r.pod.Name, UID: r.pod.UID,
		},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	accounts := r.client.CoreV1().ServiceAccounts(r.pod.Namespace)
	tr, err := accounts.CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("request a token for ServiceAccount %s: %w", sa, err)
	}
	return writeFile(dir, src.Path, []byte(tr.Status.Token), nil, defaultMode)
}

// writeFile writes one volume file at a relative path inside dir.
func writeFile(dir, rel string, data []byte, mode, defaultMode *int32) error {
	clean := filepath.Clean(rel)
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("volume file path %q leaves its volume", rel)
	}
	perm := os.FileMode(defaultFileMode)
	if defaultMode != nil {
		perm = os.FileMode(*defaultMode)
	}
	if mode != nil {
		perm = os.FileMode(*mode)
	}
	path := filepath.Join(dir, clean)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create directory for %s: %w", rel, err)
	}
	if err := os.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	// WriteFile's mode is masked by the umask; a volume file has exactly its mode.
	if err := os.Chmod(path, perm); err != nil {
		return fmt.Errorf("set the mode of %s: %w", rel, err)
	}
	return nil
}
