package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// brokerPID is the process of the broker hack/with-kafka.sh started, 0 when
// the bench uses a broker of its own.
func brokerPID() int {
	dir := os.Getenv("KAFKA_STATE_DIR")
	if dir == "" {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// cpuTime returns the user and system CPU time a process has used, 0 when
// unreadable.
func cpuTime(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces; the fields after it
	// are numbered from 3 (state): utime is the 14th and stime the 15th.
	_, rest, ok := strings.Cut(string(b), ") ")
	fields := strings.Fields(rest)
	if !ok || len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// cpuSample is the machine's CPU time from /proc/stat, in clock ticks.
type cpuSample struct{ busy, total int64 }

// machineCPU reads the CPU time of all CPUs; the zero sample when unreadable.
func machineCPU() cpuSample {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 6 || fields[0] != "cpu" {
		return cpuSample{}
	}
	var s cpuSample
	// user nice system idle iowait irq softirq steal; guest time, after
	// them, is already counted in user and nice.
	for i, f := range fields[1:min(len(fields), 9)] {
		v, _ := strconv.ParseInt(f, 10, 64)
		s.total += v
		// idle (4th) and iowait (5th) are the time no CPU was working.
		if i != 3 && i != 4 {
			s.busy += v
		}
	}
	return s
}

// busySince is the share of CPU time busy between from and s, 0 when either
// is unknown.
func (s cpuSample) busySince(from cpuSample) float64 {
	if from.total == 0 || s.total <= from.total {
		return 0
	}
	return float64(s.busy-from.busy) / float64(s.total-from.total)
}
