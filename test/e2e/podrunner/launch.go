package podrunner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// launch is everything needed to start one container's process.
type launch struct {
	// dir is the pod's directory; the mount script runs in it, so volume
	// sources are found relative to it even after a mount hides its path.
	dir string
	// argv is the whole command: unshare, the mount script, the binary.
	argv []string
	env  []string
	// addresses are the listen addresses given to the rewritten flags.
	addresses map[string]string
}

// prepare materializes the pod's volumes into dir and builds the command that
// runs the container's process in a mount namespace of its own.
func (r *Runner) prepare(
	ctx context.Context,
	pod *corev1.Pod,
	c *corev1.Container,
	img Image,
	dir string,
) (*launch, error) {
	res := resolver{client: r.cfg.Client, pod: pod}
	volumes, err := res.materialize(ctx, dir)
	if err != nil {
		return nil, err
	}
	env, envMap, err := res.environment(ctx, c, r.cfg.APIServerHost, r.cfg.APIServerPort)
	if err != nil {
		return nil, err
	}

	lookup := func(k string) (string, bool) { v, ok := envMap[k]; return v, ok }
	command := make([]string, 0, len(c.Command)+len(c.Args))
	for _, s := range c.Command {
		command = append(command, expand(s, lookup))
	}
	args := make([]string, 0, len(c.Args))
	for _, s := range c.Args {
		args = append(args, expand(s, lookup))
	}
	// The image's entrypoint (or the command's first word, naming it) is the
	// local binary that stands for the image.
	if len(command) > 0 {
		command = command[1:]
	}
	args, addresses, err := rewriteAddresses(append(command, args...), r.cfg.AddressFlags, freePort)
	if err != nil {
		return nil, err
	}

	if err := binaryVisible(img.Binary, c.VolumeMounts); err != nil {
		return nil, err
	}
	if err := r.mountPoints(c.VolumeMounts, volumes); err != nil {
		return nil, err
	}
	script, err := mountScript(pod, c, volumes)
	if err != nil {
		return nil, err
	}
	user, err := runAs(pod, c, img)
	if err != nil {
		return nil, err
	}
	argv := []string{"unshare", "--mount", "--uts", "--propagation", "private", "--",
		"/bin/sh", "-ec", script, "podrunner"}
	argv = append(argv, user...)
	argv = append(argv, "--", img.Binary)
	argv = append(argv, args...)
	return &launch{dir: dir, argv: argv, env: env, addresses: addresses}, nil
}

// mountScript returns the shell script that sets the pod's hostname (in a UTS
// namespace of its own), mounts the container's volumes at their paths,
// shallow paths first so a deeper mount is not hidden by its parent's, makes
// the root read-only when the container asks for it, and execs "$@" (setpriv
// and the binary) in the container's working directory.
func mountScript(pod *corev1.Pod, c *corev1.Container, volumes map[string]volume) (string, error) {
	mounts := append([]corev1.VolumeMount(nil), c.VolumeMounts...)
	sort.SliceStable(mounts, func(i, j int) bool {
		return depth(mounts[i].MountPath) < depth(mounts[j].MountPath)
	})
	hostname := pod.Spec.Hostname
	if hostname == "" {
		hostname = pod.Name
	}
	if len(hostname) > 63 {
		hostname = hostname[:63]
	}
	lines := []string{"echo " + shellQuote(hostname) + " > /proc/sys/kernel/hostname"}
	for _, m := range mounts {
		v, ok := volumes[m.Name]
		if !ok {
			return "", fmt.Errorf("volumeMount %s names no volume of pod %s", m.Name, pod.Name)
		}
		if !filepath.IsAbs(m.MountPath) {
			return "", fmt.Errorf("volumeMount %s: mountPath %q is not absolute", m.Name, m.MountPath)
		}
		target := shellQuote(filepath.Clean(m.MountPath))
		if v.tmpfs != nil {
			opts := "mode=1777"
			if *v.tmpfs != "" {
				opts += ",size=" + *v.tmpfs
			}
			lines = append(lines, "mkdir -p "+target, "mount -t tmpfs -o "+opts+" tmpfs "+target)
			continue
		}
		src := filepath.Join(v.dir, m.SubPath)
		if strings.HasPrefix(filepath.Clean(src), "..") || filepath.IsAbs(m.SubPath) {
			return "", fmt.Errorf("volumeMount %s: subPath %q leaves its volume", m.Name, m.SubPath)
		}
		// A subPath may name a file; its mount point is then a file too.
		lines = append(lines,
			fmt.Sprintf("if [ -d %[1]s ]; then mkdir -p %[2]s; else mkdir -p \"$(dirname %[2]s)\"; "+
				"[ -e %[2]s ] || : > %[2]s; fi", shellQuote("./"+src), target),
			"mount --bind "+shellQuote("./"+src)+" "+target)
		if m.ReadOnly {
			lines = append(lines, "mount -o remount,bind,ro "+target)
		}
	}
	if sc := c.SecurityContext; sc != nil && isTrue(sc.ReadOnlyRootFilesystem) {
		// Last, since a bind mount takes the flags of the mount its source is on.
		lines = append(lines, "mount -o remount,bind,ro / || "+
			"echo 'podrunner: could not make / read-only; running with it writable' >&2")
	}
	workDir := c.WorkingDir
	if workDir == "" {
		workDir = "/"
	}
	lines = append(lines, "cd "+shellQuote(workDir), `exec "$@"`)
	return strings.Join(lines, "\n"), nil
}

// mountPoints creates the directories the container's mounts need on the
// host (mkdir is not confined to a mount namespace) and remembers the ones it
// created, so Stop removes them again.
func (r *Runner) mountPoints(mounts []corev1.VolumeMount, volumes map[string]volume) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range mounts {
		v, ok := volumes[m.Name]
		if !ok || !filepath.IsAbs(m.MountPath) {
			continue // mountScript reports it
		}
		dir := filepath.Clean(m.MountPath)
		if m.SubPath != "" && v.tmpfs == nil {
			if fi, err := os.Stat(filepath.Join(v.dir, m.SubPath)); err != nil || !fi.IsDir() {
				dir = filepath.Dir(dir) // a file mount; the script creates the file
			}
		}
		var missing []string
		for d := dir; d != "/"; d = filepath.Dir(d) {
			if _, err := os.Lstat(d); err == nil {
				break
			}
			missing = append(missing, d)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create mount point %s: %w", dir, err)
		}
		for _, d := range missing {
			r.created[d] = true
		}
	}
	return nil
}

// binaryVisible fails when one of the container's mounts would hide the
// binary that stands for its image.
func binaryVisible(binary string, mounts []corev1.VolumeMount) error {
	for _, m := range mounts {
		mp := filepath.Clean(m.MountPath)
		if binary == mp || strings.HasPrefix(binary, mp+"/") || mp == "/" {
			return fmt.Errorf("the mount at %s would hide %s: keep the binaries outside the "+
				"pods' mount paths (such as /tmp)", mp, binary)
		}
	}
	return nil
}

func depth(path string) int {
	return strings.Count(filepath.Clean(path), "/")
}

// runAs returns the setpriv command that drops to the container's user: the
// securityContext's runAsUser and runAsGroup, else the image's user, with
// fsGroup and supplementalGroups as extra groups, no new privileges when
// privilege escalation is off, and no capabilities when all are dropped. The
// parent-death signal survives the change of user, so the process dies with
// the runner.
func runAs(pod *corev1.Pod, c *corev1.Container, img Image) ([]string, error) {
	uid, gid := img.User, img.Group
	nonRoot := false
	if psc := pod.Spec.SecurityContext; psc != nil {
		uid = orInt(psc.RunAsUser, uid)
		gid = orInt(psc.RunAsGroup, gid)
		nonRoot = isTrue(psc.RunAsNonRoot)
	}
	sc := c.SecurityContext
	if sc != nil {
		uid = orInt(sc.RunAsUser, uid)
		gid = orInt(sc.RunAsGroup, gid)
		if sc.RunAsNonRoot != nil {
			nonRoot = *sc.RunAsNonRoot
		}
	}
	if nonRoot && uid == 0 {
		return nil, errors.New("runAsNonRoot is set but the container would run as root " +
			"(a kubelet refuses to start it)")
	}

	argv := []string{"setpriv", "--reuid=" + strconv.FormatInt(uid, 10),
		"--regid=" + strconv.FormatInt(gid, 10), "--pdeathsig=keep"}
	var groups []string
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.FSGroup != nil {
			groups = append(groups, strconv.FormatInt(*psc.FSGroup, 10))
		}
		for _, g := range psc.SupplementalGroups {
			groups = append(groups, strconv.FormatInt(g, 10))
		}
	}
	if len(groups) > 0 {
		argv = append(argv, "--groups="+strings.Join(groups, ","))
	} else {
		argv = append(argv, "--clear-groups")
	}
	if sc != nil && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		argv = append(argv, "--no-new-privs")
	}
	if sc != nil && sc.Capabilities != nil && dropsAll(sc.Capabilities.Drop) {
		argv = append(argv, "--inh-caps=-all", "--bounding-set=-all")
	}
	return argv, nil
}

func dropsAll(caps []corev1.Capability) bool {
	for _, c := range caps {
		if strings.EqualFold(string(c), "ALL") {
			return true
		}
	}
	return false
}

func orInt(p *int64, def int64) int64 {
	if p == nil {
		return def
	}
	return *p
}

// podDir returns a new directory for one pod's volumes.
func podDir(root string, pod *corev1.Pod) (string, error) {
	uid := string(pod.UID)
	if len(uid) > 8 {
		uid = uid[:8]
	}
	dir := filepath.Join(root, "pods", pod.Namespace+"_"+pod.Name+"_"+uid)
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("clear pod directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create pod directory: %w", err)
	}
	return dir, nil
}
