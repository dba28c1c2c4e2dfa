package podrunner

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// expand replaces each $(NAME) in s with lookup's value for NAME, as the
// kubelet does in env values, command and args: a reference lookup does not
// know stays as written, and $$ is an escaped $, so $$(NAME) stays $(NAME).
func expand(s string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// freePort returns a TCP port on loopback that nothing listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// rewriteAddresses gives each listen-address flag in args a free loopback
// port of its own, since every process shares the host's loopback where pods
// would each have their own network namespace. A flag set to "0" (listener
// off) is kept. It returns the new args and the address each flag now has.
//
// Limitation: there is no network namespace, so a pod IP or a Service's
// cluster IP leads nowhere; eventpipe's processes only dial the API server and
// Kafka, both on loopback here, so nothing they do needs one.
func rewriteAddresses(
	args []string,
	flags []string,
	port func() (int, error),
) ([]string, map[string]string, error) {
	out := append([]string(nil), args...)
	addresses := map[string]string{}
	rewrite := func(flag, value string) (string, error) {
		if value == "0" {
			return value, nil
		}
		p, err := port()
		if err != nil {
			return "", err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		addresses[flag] = addr
		return addr, nil
	}
	for i := 0; i < len(out); i++ {
		name, value, hasValue := splitFlag(out[i])
		if !contains(flags, name) {
			continue
		}
		if !hasValue {
			if i+1 == len(out) {
				continue
			}
			i++
			v, err := rewrite(name, out[i])
			if err != nil {
				return nil, nil, err
			}
			out[i] = v
			continue
		}
		v, err := rewrite(name, value)
		if err != nil {
			return nil, nil, err
		}
		out[i] = out[i][:len(out[i])-len(value)] + v
	}
	return out, addresses, nil
}

// splitFlag splits "--name=value" or "-name=value" into its parts; for
// "--name" alone hasValue is false. A word that is no flag has an empty name.
func splitFlag(arg string) (name, value string, hasValue bool) {
	if !strings.HasPrefix(arg, "-") {
		return "", "", false
	}
	trimmed := strings.TrimLeft(arg, "-")
	name, value, hasValue = strings.Cut(trimmed, "=")
	return name, value, hasValue
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
