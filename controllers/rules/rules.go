// Package rules compiles the CEL rules of a RulePack: the check the RulePack
// reconciler and the admission webhook make, so a pack that does not compile
// never reaches a worker, and the evaluation workers run.
//
// A rule's condition sees the event's attributes as variables (type, source,
// id, subject, time and extensions), its data as `data` and the pack's
// parameters as `params`. It must yield a bool.
package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/cel"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

// costLimit bounds the work one evaluation may do, so a rule cannot stall a
// worker's partition.
const costLimit = 100000

// Rule is one compiled rule.
type Rule struct {
	// Name is the rule's name.
	Name string
	// Severity is the rule's severity.
	Severity eventpipev1alpha1.Severity
	// Emit is the event the rule emits when it matches, or nil.
	Emit *eventpipev1alpha1.RuleEmit

	program cel.Program
}

// Pack is a compiled RulePack.
type Pack struct {
	// Version is a short hash of the rules and parameters: equal packs have
	// equal versions, whatever their object.
	Version string
	// Rules are the compiled rules, in order.
	Rules []Rule

	params map[string]any
}

// Error names the rule that did not compile and says why.
type Error struct {
	// Rule is the rule's name; empty for a problem of the pack's params.
	Rule string
	// Message is the compiler's message.
	Message string
}

func (e Error) Error() string {
	if e.Rule == "" {
		return e.Message
	}
	return fmt.Sprintf("rule %s: %s", e.Rule, e.Message)
}

// Event is what a rule is evaluated against.
type Event struct {
	Type, Source, ID, Subject string
	Time                      time.Time
	Extensions                map[string]any
	// Data is the event's data, decoded from JSON.
	Data any
}

func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("type", cel.StringType),
		cel.Variable("source", cel.StringType),
		cel.Variable("id", cel.StringType),
		cel.Variable("subject", cel.StringType),
		cel.Variable("time", cel.TimestampType),
		cel.Variable("extensions", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("data", cel.DynType),
		cel.Variable("params", cel.MapType(cel.StringType, cel.DynType)),
	)
}

// Compile compiles every rule of spec. It returns every rule that failed,
// each with the compiler's message, joined into one error.
func Compile(spec eventpipev1alpha1.RulePackSpec) (*Pack, error) {
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("create CEL environment: %w", err)
	}
	pack := &Pack{Version: version(spec), params: map[string]any{}}
	var errs []error
	if spec.Params != nil && len(spec.Params.Raw) > 0 {
		if err := json.Unmarshal(spec.Params.Raw, &pack.params); err != nil {
			errs = append(errs, Error{Message: "params must be an object of named values: " + err.Error()})
		}
	}
	for _, r := range spec.Rules {
		ast, issues := env.Compile(r.Condition)
		if issues != nil && issues.Err() != nil {
			errs = append(errs, Error{Rule: r.Name, Message: strings.TrimSpace(issues.Err().Error())})
			continue
		}
		if t := ast.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
			errs = append(errs, Error{Rule: r.Name, Message: fmt.Sprintf("the condition yields %s, not bool", t)})
			continue
		}
		prg, err := env.Program(ast, cel.CostLimit(costLimit))
		if err != nil {
			errs = append(errs, Error{Rule: r.Name, Message: err.Error()})
			continue
		}
		pack.Rules = append(pack.Rules, Rule{Name: r.Name, Severity: r.Severity, Emit: r.Emit, program: prg})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return pack, nil
}

// Match evaluates every rule against ev and returns the rules that match, in
// order. A rule whose evaluation fails (a missing field, a type mismatch)
// does not match; its error is returned with the others.
func (p *Pack) Match(ev Event) ([]Rule, error) {
	ext := ev.Extensions
	if ext == nil {
		ext = map[string]any{}
	}
	vars := map[string]any{
		"type": ev.Type, "source": ev.Source, "id": ev.ID, "subject": ev.Subject,
		"time": ev.Time, "extensions": ext, "data": ev.Data, "params": p.params,
	}
	var matched []Rule
	var errs []error
	for _, r := range p.Rules {
		out, _, err := r.program.Eval(vars)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %s: %w", r.Name, err))
			continue
		}
		if b, ok := out.Value().(bool); ok && b {
			matched = append(matched, r)
		}
	}
	return matched, errors.Join(errs...)
}

// version hashes the rules and params into a short, stable identifier.
func version(spec eventpipev1alpha1.RulePackSpec) string {
	b, _ := json.Marshal(struct {
		Rules  []eventpipev1alpha1.Rule `json:"rules"`
		Params any                      `json:"params"`
	}{spec.Rules, spec.Params})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:7]
}
