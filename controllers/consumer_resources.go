package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/internal/kafka"
	workerconfig "github.com/eventpipe/eventpipe/workers/config"
)

const (
	// LabelConsumer names the Consumer a worker object belongs to.
	LabelConsumer = "eventpipe.io/consumer"

	// annotationConfigHash carries a hash of the worker configuration on the
	// pod template, so a changed configuration rolls the workers.
	annotationConfigHash = "eventpipe.io/config-hash"

	workerContainer = "worker"
	configVolume    = "worker-config"
	kafkaVolume     = "kafka"
	tmpVolume       = "tmp"
)

// consumerTopics are the topics a Consumer's workers use, resolved from its
// EventStreams.
type consumerTopics struct {
	input      string
	outputs    map[string]string
	deadLetter string
}

// workerConfig renders the contract the worker reads at start.
func workerConfig(c *eventpipev1alpha1.Consumer, topics consumerTopics) workerconfig.Worker {
	d := c.Spec.Delivery
	w := workerconfig.Worker{
		Consumer:        c.Namespace + "/" + c.Name,
		ConsumerGroup:   c.EffectiveConsumerGroup(),
		InputTopic:      topics.input,
		InitialOffset:   string(c.Spec.InitialOffset),
		Outputs:         topics.outputs,
		DeadLetterTopic: topics.deadLetter,
		Delivery: workerconfig.Delivery{
			Guarantee:   string(d.Guarantee),
			MaxAttempts: int(d.MaxAttempts),
		},
	}
	if d.Backoff != nil && d.Backoff.Initial != nil {
		w.Delivery.BackoffInitial = workerconfig.Duration{Duration: d.Backoff.Initial.Duration}
	}
	if d.Backoff != nil && d.Backoff.Max != nil {
		w.Delivery.BackoffMax = workerconfig.Duration{Duration: d.Backoff.Max.Duration}
	}
	if d.DedupTTL != nil {
		w.Delivery.DedupTTL = workerconfig.Duration{Duration: d.DedupTTL.Duration}
	}
	if d.DedupMaxKeys != nil {
		w.Delivery.DedupMaxKeys = *d.DedupMaxKeys
	}
	if d.Guarantee == eventpipev1alpha1.DeliveryIdempotent {
		w.DedupTopic = c.EffectiveConsumerGroup() + ".dedup"
	}
	if c.Spec.Settings != nil {
		w.Settings = c.Spec.Settings.Raw
	}
	return w
}

// renderConfigMap fills in the ConfigMap that holds the worker configuration
// and returns the configuration's hash.
func renderConfigMap(cm *corev1.ConfigMap, c *eventpipev1alpha1.Consumer, w workerconfig.Worker) (string, error) {
	b, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode worker config: %w", err)
	}
	cm.Labels = mergeLabels(cm.Labels, workerLabels(c))
	cm.Data = map[string]string{workerconfig.FileName: string(b)}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}

// workerSettings are the manager-wide settings of every worker Deployment.
type workerSettings struct {
	image string
	kafka kafka.Config
	// kafkaSecret names a Secret in the Consumer's namespace with the Kafka
	// connection files; empty for a plaintext cluster without auth.
	kafkaSecret string
}

// renderDeployment fills in the worker Deployment. replicas is nil when an
// AutoscalePolicy owns the replica count.
func renderDeployment(
	d *appsv1.Deployment,
	c *eventpipev1alpha1.Consumer,
	s workerSettings,
	configHash string,
	replicas *int32,
) {
	labels := workerLabels(c)
	d.Labels = mergeLabels(d.Labels, labels)
	// Left out while an AutoscalePolicy targets the Consumer: the replica
	// count is then the HorizontalPodAutoscaler's field.
	d.Spec.Replicas = replicas
	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: selectorLabels(c)}
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}

	image := s.image
	if c.Spec.Image != "" {
		image = c.Spec.Image
	}
	args := []string{
		"--processor=" + string(c.Spec.Processor),
		"--config=" + workerconfig.MountPath + "/" + workerconfig.FileName,
		"--kafka-bootstrap-servers=" + strings.Join(s.kafka.BootstrapServers, ","),
		"--health-probe-bind-address=:" + strconv.Itoa(workerconfig.HealthPort),
		"--metrics-bind-address=:" + strconv.Itoa(workerconfig.MetricsPort),
	}
	volumes := []corev1.Volume{
		{Name: configVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: c.Name},
		}}},
		{Name: tmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: configVolume, MountPath: workerconfig.MountPath, ReadOnly: true},
		{Name: tmpVolume, MountPath: "/tmp"},
	}
	if s.kafkaSecret != "" {
		args = append(args, "--kafka-config-dir="+workerconfig.KafkaMountPath)
		volumes = append(volumes, corev1.Volume{Name: kafkaVolume, VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: s.kafkaSecret},
		}})
		mounts = append(mounts, corev1.VolumeMount{Name: kafkaVolume, MountPath: workerconfig.KafkaMountPath, ReadOnly: true})
	}

	tmpl := &d.Spec.Template
	tmpl.Labels = mergeLabels(tmpl.Labels, labels)
	tmpl.Annotations = mergeLabels(tmpl.Annotations, map[string]string{annotationConfigHash: configHash})
	tmpl.Spec.Volumes = volumes
	tmpl.Spec.AutomountServiceAccountToken = ptr.To(false)
	tmpl.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
	tmpl.Spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	tmpl.Spec.Containers = []corev1.Container{{
		Name:            workerContainer,
		Image:           image,
		Command:         []string{"/worker"},
		Args:            args,
		Ports:           workerPorts(),
		Env:             workerEnv(c.Spec.Resources),
		Resources:       workerResources(c.Spec.Resources),
		VolumeMounts:    mounts,
		LivenessProbe:   httpProbe("/healthz", 10),
		ReadinessProbe:  httpProbe("/readyz", 5),
		SecurityContext: restrictedContainer(),
	}}
}

// renderService fills in the Service that exposes the workers' metrics.
func renderService(svc *corev1.Service, c *eventpipev1alpha1.Consumer) {
	svc.Labels = mergeLabels(svc.Labels, workerLabels(c))
	svc.Spec.Selector = selectorLabels(c)
	svc.Spec.Ports = []corev1.ServicePort{{
		Name:       "metrics",
		Port:       workerconfig.MetricsPort,
		TargetPort: intstr.FromString("metrics"),
		Protocol:   corev1.ProtocolTCP,
	}}
}

// renderPDB fills in the PodDisruptionBudget: voluntary disruptions take one
// worker at a time, so a drain never stops a whole consumer group.
func renderPDB(pdb *policyv1.PodDisruptionBudget, c *eventpipev1alpha1.Consumer) {
	pdb.Labels = mergeLabels(pdb.Labels, workerLabels(c))
	pdb.Spec.Selector = &metav1.LabelSelector{MatchLabels: selectorLabels(c)}
	pdb.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(1))
}

func workerPorts() []corev1.ContainerPort {
	return []corev1.ContainerPort{
		{Name: "health", ContainerPort: workerconfig.HealthPort, Protocol: corev1.ProtocolTCP},
		{Name: "metrics", ContainerPort: workerconfig.MetricsPort, Protocol: corev1.ProtocolTCP},
	}
}

// workerEnv tells the worker its memory limit, when the Consumer sets one,
// so that the Go runtime collects garbage harder near the limit rather than
// let the container be killed for going over it.
func workerEnv(r corev1.ResourceRequirements) []corev1.EnvVar {
	if _, ok := r.Limits[corev1.ResourceMemory]; !ok {
		return nil
	}
	return []corev1.EnvVar{{Name: workerconfig.MemoryLimitEnv, ValueFrom: &corev1.EnvVarSource{
		ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: workerContainer,
			Resource: "limits.memory"},
	}}}
}

// workerResources applies the default requests where the Consumer sets none.
func workerResources(r corev1.ResourceRequirements) corev1.ResourceRequirements {
	out := *r.DeepCopy()
	if out.Requests == nil {
		out.Requests = corev1.ResourceList{}
	}
	if _, ok := out.Requests[corev1.ResourceCPU]; !ok {
		out.Requests[corev1.ResourceCPU] = resource.MustParse("50m")
	}
	if _, ok := out.Requests[corev1.ResourceMemory]; !ok {
		out.Requests[corev1.ResourceMemory] = resource.MustParse("64Mi")
	}
	return out
}

func httpProbe(path string, period int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: path, Port: intstr.FromString("health"),
		}},
		PeriodSeconds:    period,
		FailureThreshold: 3,
	}
}

func restrictedContainer() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		RunAsNonRoot:             ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

func selectorLabels(c *eventpipev1alpha1.Consumer) map[string]string {
	return map[string]string{LabelConsumer: c.Name}
}

func workerLabels(c *eventpipev1alpha1.Consumer) map[string]string {
	return map[string]string{
		LabelConsumer:                 c.Name,
		"app.kubernetes.io/name":      "eventpipe-worker",
		"app.kubernetes.io/instance":  c.Name,
		"app.kubernetes.io/component": string(c.Spec.Processor),
		"app.kubernetes.io/part-of":   "eventpipe",
	}
}

// mergeLabels returns existing with want laid over it, so labels others add
// (a mesh, a policy engine) survive.
func mergeLabels(existing, want map[string]string) map[string]string {
	out := make(map[string]string, len(existing)+len(want))
	for k, v := range existing {
		out[k] = v
	}
	for k, v := range want {
		out[k] = v
	}
	return out
}

// streamRefs lists, sorted and once each, the EventStreams a Consumer names.
func streamRefs(c *eventpipev1alpha1.Consumer) []string {
	seen := map[string]bool{c.Spec.Stream: true}
	for _, s := range c.Spec.Outputs {
		seen[s] = true
	}
	if c.Spec.Delivery.DeadLetterStream != "" {
		seen[c.Spec.Delivery.DeadLetterStream] = true
	}
	refs := make([]string, 0, len(seen))
	for s := range seen {
		refs = append(refs, s)
	}
	sort.Strings(refs)
	return refs
}
