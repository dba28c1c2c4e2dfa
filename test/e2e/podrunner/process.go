package podrunner

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
)

// Restart backoff of a process that exits while its pod runs: a kubelet's
// CrashLoopBackOff, shortened so a suite notices a crash loop within its
// timeouts.
const (
	restartBackoffInitial = time.Second
	restartBackoffMax     = 20 * time.Second
)

// Process is a snapshot of one pod's process.
type Process struct {
	// Namespace and Pod name the pod the process stands for.
	Namespace, Pod string
	// UID is the pod's UID.
	UID types.UID
	// Container is the container whose spec the process was started from.
	Container string
	// Image is that container's image.
	Image string
	// Labels are the pod's labels, to find the processes of a workload.
	Labels map[string]string
	// PID is the process id while it runs, else 0.
	PID int
	// Running is true while the process is alive, Terminating included.
	Running bool
	// Terminating is true from the pod's deletion until the process exits.
	Terminating bool
	// Restarts counts how often the process exited on its own and was started again.
	Restarts int
	// StartedAt is when the process was last started.
	StartedAt time.Time
	// Addresses maps each rewritten listen-address flag to the loopback
	// address the process got instead (health-probe-bind-address, ...).
	Addresses map[string]string
	// LogFile holds the process's stdout and stderr, across restarts.
	LogFile string
}

// process supervises one container's process: it restarts it when it exits
// on its own and stops it, SIGTERM then SIGKILL after the grace period, when
// its pod goes.
type process struct {
	spawner *spawner
	log     logr.Logger
	launch  *launch
	grace   time.Duration

	mu       sync.Mutex
	info     Process
	cmd      *exec.Cmd
	stopping bool
	stopped  chan struct{} // closed when the supervisor has returned
	wake     chan struct{} // interrupts a restart backoff
}

func newProcess(s *spawner, log logr.Logger, l *launch, grace time.Duration, info Process) *process {
	return &process{spawner: s, log: log, launch: l, grace: grace, info: info,
		stopped: make(chan struct{}), wake: make(chan struct{}, 1)}
}

// supervise runs the process until stop is called.
func (p *process) supervise() {
	defer close(p.stopped)
	backoff := restartBackoffInitial
	for {
		started := time.Now()
		err := p.runOnce()
		p.mu.Lock()
		stopping := p.stopping
		p.info.PID, p.info.Running = 0, false
		p.mu.Unlock()
		if stopping {
			p.log.Info("Process stopped", "error", errText(err))
			return
		}
		if time.Since(started) > 2*restartBackoffMax {
			backoff = restartBackoffInitial
		}
		p.log.Info("Process exited while its pod runs; restarting it", "error", errText(err),
			"backoff", backoff.String())
		select {
		case <-time.After(backoff):
		case <-p.wake:
		}
		backoff = min(2*backoff, restartBackoffMax)
		p.mu.Lock()
		if p.stopping {
			p.mu.Unlock()
			return
		}
		p.info.Restarts++
		p.mu.Unlock()
	}
}

// runOnce starts the process and waits for it to exit.
func (p *process) runOnce() error {
	out, err := os.OpenFile(p.info.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	defer func() { _ = out.Close() }()
	_, _ = fmt.Fprintf(out, "podrunner: %s starting %s/%s container %s (restart %d)\n",
		time.Now().Format(time.RFC3339Nano), p.info.Namespace, p.info.Pod, p.info.Container, p.info.Restarts)

	cmd := exec.Command(p.launch.argv[0], p.launch.argv[1:]...)
	cmd.Dir, cmd.Env = p.launch.dir, p.launch.env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	p.mu.Lock()
	if p.stopping {
		p.mu.Unlock()
		return nil
	}
	if err := p.spawner.start(cmd); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("start: %w", err)
	}
	p.cmd = cmd
	p.info.PID, p.info.Running, p.info.StartedAt = cmd.Process.Pid, true, time.Now()
	p.mu.Unlock()
	p.log.Info("Process started", "pid", cmd.Process.Pid, "addresses", p.info.Addresses)
	return cmd.Wait()
}

// stop sends SIGTERM, then SIGKILL once the grace period is over, and waits
// for the supervisor to return.
func (p *process) stop() {
	p.mu.Lock()
	if !p.stopping {
		p.stopping, p.info.Terminating = true, true
		if p.info.Running {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		}
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	select {
	case <-p.stopped:
		return
	case <-time.After(p.grace):
	}
	p.mu.Lock()
	if p.info.Running {
		p.log.Info("Process outlived its grace period; killing it", "grace", p.grace.String())
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	p.mu.Unlock()
	<-p.stopped
}

func (p *process) snapshot() Process {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.info
	s.Labels = copyMap(p.info.Labels)
	s.Addresses = copyMap(p.info.Addresses)
	return s
}

// spawner starts every process from one OS thread that never exits, since a
// child's parent-death signal fires when the thread that forked it ends, not
// when the runner does.
type spawner struct {
	requests chan spawnRequest
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

func newSpawner() *spawner {
	s := &spawner{requests: make(chan spawnRequest)}
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread must outlive every child.
		for req := range s.requests {
			req.done <- req.cmd.Start()
		}
	}()
	return s
}

func (s *spawner) start(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	s.requests <- spawnRequest{cmd: cmd, done: done}
	return <-done
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
