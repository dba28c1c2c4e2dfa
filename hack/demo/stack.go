package main

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// pipelineManifest is the showcase pipeline.
//
//go:embed pipeline.yaml
var pipelineManifest []byte

const (
	demoNamespace    = "demo"
	releaseNamespace = "eventpipe-system"
	releaseName      = "eventpipe"
	imageTag         = "demo"
	// commandWaitDelay is how long a cancelled script gets to exit after SIGTERM.
	commandWaitDelay = 30 * time.Second
)

func newLogger(w io.Writer) logr.Logger {
	return zap.New(zap.WriteTo(w), zap.UseDevMode(false), zap.Level(zapcore.InfoLevel))
}

// script runs one of the hack/ scripts or tools, its output going to the demo
// log, and returns its last line of stdout. It runs in a process group of its
// own, so a Ctrl-C in the terminal reaches only the demo, which then stops
// what it started in order.
func (d *demo) script(ctx context.Context, stdin []byte, name string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), d.env...)
	cmd.Stdout = io.MultiWriter(&out, d.logFile)
	cmd.Stderr = d.logFile
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = commandWaitDelay
	d.log.Info("Running command", "command", name, "args", args)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("run %s %s (output in %s): %w",
			filepath.Base(name), strings.Join(args, " "), d.logFile.Name(), err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return lines[len(lines)-1], nil
}

// startKafka starts the demo's own broker. The stop is registered first, so
// a broker that is half started is stopped too.
func (d *demo) startKafka(ctx context.Context) error {
	d.env = append(d.env, "KAFKA_STATE_DIR="+d.cfg.kafkaDir)
	d.onCleanup("Stopping Kafka", func() error {
		d.saveBrokerLog()
		_, err := d.script(context.Background(), nil, "hack/kafka.sh", "stop")
		return err
	})
	line, err := d.script(ctx, nil, "hack/kafka.sh", "start")
	if err != nil {
		return err
	}
	bootstrap, ok := strings.CutPrefix(line, "KAFKA_BOOTSTRAP=")
	if !ok {
		return fmt.Errorf("hack/kafka.sh start printed %q, not KAFKA_BOOTSTRAP=", line)
	}
	d.kafkaBootstrap = bootstrap
	d.log.Info("Kafka started", "bootstrap", bootstrap)
	return nil
}

// saveBrokerLog keeps the broker's log, since `kafka.sh stop` removes its data.
func (d *demo) saveBrokerLog() {
	data, err := os.ReadFile(filepath.Join(d.cfg.kafkaDir, "data"))
	if err != nil {
		return
	}
	src := filepath.Join(strings.TrimSpace(string(data)), "broker.log")
	b, err := os.ReadFile(src)
	if err != nil {
		return
	}
	if err := os.WriteFile(filepath.Join(d.cfg.workDir, "kafka-broker.log"), b, 0o644); err != nil {
		d.log.Error(err, "Cannot keep the broker log", "from", src)
	}
}

// startCluster starts the demo's own control plane.
func (d *demo) startCluster(ctx context.Context) error {
	d.env = append(d.env, "LOCAL_CLUSTER_DIR="+d.cfg.clusterDir)
	d.onCleanup("Stopping the local control plane", func() error {
		_, err := d.script(context.Background(), nil, "hack/local-cluster.sh", "down")
		return err
	})
	line, err := d.script(ctx, nil, "hack/local-cluster.sh", "up")
	if err != nil {
		return err
	}
	kubeconfig, ok := strings.CutPrefix(line, "KUBECONFIG=")
	if !ok {
		return fmt.Errorf("hack/local-cluster.sh up printed %q, not KUBECONFIG=", line)
	}
	d.kubeconfig = kubeconfig
	d.env = append(d.env, "KUBECONFIG="+kubeconfig)
	c, err := newCluster(kubeconfig)
	if err != nil {
		return err
	}
	d.cluster = c
	return nil
}

// installOperator installs the chart with the images the podrunner stands in
// for. The cluster goes at the end, so the release is not uninstalled.
//
// Limitation: the admission webhooks stay off (the chart's default): the API
// server would call them at a pod IP, which leads nowhere on the local
// control plane.
func (d *demo) installOperator(ctx context.Context) error {
	_, err := d.script(ctx, nil, filepath.Join(d.cfg.binDir, "helm"), "install", releaseName, "charts/eventpipe",
		"-n", releaseNamespace, "--create-namespace",
		"--set", "kafka.bootstrapServers="+d.kafkaBootstrap,
		"--set", "image.repository="+managerRepository,
		"--set", "image.tag="+imageTag,
		"--set", "worker.image.repository="+workerRepository,
		"--set", "worker.image.tag="+imageTag,
		"--set", "controller.lagRefreshInterval=2s",
		"--set", "logFormat=console")
	return err
}

// applyPipeline creates the demo namespace and applies the showcase pipeline.
func (d *demo) applyPipeline(ctx context.Context) error {
	kubectl := filepath.Join(d.cfg.binDir, "kubectl")
	if _, err := d.script(ctx, nil, kubectl, "create", "namespace", demoNamespace); err != nil {
		return err
	}
	_, err := d.script(ctx, pipelineManifest, kubectl, "apply", "-n", demoNamespace, "-f", "-")
	return err
}
