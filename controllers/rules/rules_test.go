package rules

import (
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

func pack(params string, rules ...eventpipev1alpha1.Rule) eventpipev1alpha1.RulePackSpec {
	spec := eventpipev1alpha1.RulePackSpec{Rules: rules}
	if params != "" {
		spec.Params = &apiextensionsv1.JSON{Raw: []byte(params)}
	}
	return spec
}

func rule(name, condition string) eventpipev1alpha1.Rule {
	return eventpipev1alpha1.Rule{Name: name, Condition: condition, Severity: "high"}
}

func TestCompileRefusesNamingTheRule(t *testing.T) {
	tests := []struct {
		name string
		spec eventpipev1alpha1.RulePackSpec
		want []string
	}{
		{
			name: "an undeclared variable",
			spec: pack("", rule("ok", "data.amount > 1"), rule("typo", "dta.amount > 1")),
			want: []string{"rule typo:", "undeclared reference to 'dta'"},
		},
		{
			name: "a syntax error",
			spec: pack("", rule("broken", "data.amount >")),
			want: []string{"rule broken:", "Syntax error"},
		},
		{
			name: "a condition that is not a bool",
			spec: pack("", rule("count", "size(type)")),
			want: []string{"rule count:", "yields int, not bool"},
		},
		{
			name: "every failing rule at once",
			spec: pack("", rule("a", "nope"), rule("b", "1 +")),
			want: []string{"rule a:", "rule b:"},
		},
		{
			name: "params that are not an object",
			spec: pack(`[1, 2]`, rule("ok", "true")),
			want: []string{"params must be an object"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.spec)
			if err == nil {
				t.Fatalf("Compile() = %+v, want an error", p)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Compile() error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestMatch(t *testing.T) {
	spec := pack(`{"highAmount": 5000, "countries": ["NL", "DE"]}`,
		rule("high-amount-new-device", "data.amount > params.highAmount && data.device.ageDays < 2"),
		rule("foreign", "!(data.country in params.countries)"),
		rule("flagged-source", `source.startsWith("shop/") && extensions.channel == "web"`),
	)
	p, err := Compile(spec)
	if err != nil {
		t.Fatalf("Compile() unexpected error: %v", err)
	}
	if len(p.Version) != 7 {
		t.Errorf("Version = %q, want 7 hex characters", p.Version)
	}
	tests := []struct {
		name string
		ev   Event
		want []string
	}{
		{
			name: "a large payment from a new device abroad",
			ev: Event{Type: "com.example.payment.attempted", Source: "pos/1",
				Data: map[string]any{"amount": 9000.0, "device": map[string]any{"ageDays": 1.0}, "country": "US"}},
			want: []string{"high-amount-new-device", "foreign"},
		},
		{
			name: "a small domestic web payment",
			ev: Event{Source: "shop/eu", Extensions: map[string]any{"channel": "web"},
				Data: map[string]any{"amount": 10.0, "device": map[string]any{"ageDays": 400.0}, "country": "NL"}},
			want: []string{"flagged-source"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			matched, err := p.Match(tt.ev)
			if err != nil {
				t.Fatalf("Match() unexpected error: %v", err)
			}
			var names []string
			for _, r := range matched {
				names = append(names, r.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.want, ",") {
				t.Errorf("Match() = %v, want %v", names, tt.want)
			}
		})
	}

	if _, err := p.Match(Event{Data: map[string]any{}}); err == nil {
		t.Error("Match() on data without the fields returned no error; want the evaluation errors reported")
	}
}

func TestVersionFollowsContent(t *testing.T) {
	a, _ := Compile(pack(`{"x": 1}`, rule("r", "true")))
	b, _ := Compile(pack(`{"x": 1}`, rule("r", "true")))
	c, _ := Compile(pack(`{"x": 2}`, rule("r", "true")))
	if a.Version != b.Version || a.Version == c.Version {
		t.Errorf("versions %s %s %s: equal packs must share one, different packs must not", a.Version, b.Version, c.Version)
	}
}
