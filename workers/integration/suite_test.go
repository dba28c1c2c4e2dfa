// Package integration_test runs the worker binary as real processes against a
// real Kafka broker (KAFKA_BOOTSTRAP, see hack/with-kafka.sh) and checks what
// reaches the output and dead-letter topics.
package integration_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

const (
	// flowTimeout bounds waiting for events to go through a worker.
	flowTimeout = 90 * time.Second
	// rebalanceTimeout bounds waiting for a group to settle after a member
	// joins or dies (the session timeout is 10s).
	rebalanceTimeout = 45 * time.Second
	// shutdownTimeout bounds a worker's graceful stop.
	shutdownTimeout = 30 * time.Second
	poll            = 100 * time.Millisecond
)

var (
	bootstrap    string
	workerBinary string
)

func TestWorkers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Worker integration suite")
}

var _ = BeforeSuite(func() {
	bootstrap = os.Getenv("KAFKA_BOOTSTRAP")
	Expect(bootstrap).NotTo(BeEmpty(), "KAFKA_BOOTSTRAP is not set: these tests need a real "+
		"Kafka broker; run them with `make test-integration` or `hack/with-kafka.sh go test ...`")

	workerBinary = filepath.Join(GinkgoT().TempDir(), "worker")
	// With the race detector: the worker's partitions, acknowledgements,
	// changelog and metrics scrapes run concurrently, and these specs drive
	// them all; startWorker fails a spec whose worker reports a race.
	build := exec.Command("go", "build", "-race", "-o", workerBinary, "github.com/eventpipe/eventpipe/cmd/worker")
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "build the worker: %s", out)
	SetDefaultEventuallyPollingInterval(poll)
})
