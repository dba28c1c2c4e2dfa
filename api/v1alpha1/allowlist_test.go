package v1alpha1_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

var (
	// quotedList matches a CEL list literal of single-quoted strings, such as
	// the allow-list in `k in ['cleanup.policy', ...]`.
	quotedList = regexp.MustCompile(`\[('[^']*'(?:\s*,\s*'[^']*')*)\]`)
	// allowedKeysText matches the allow-list as the message spells it out.
	allowedKeysText = regexp.MustCompile(`allowed keys are ([^']*)'`)
)

// TestConfigAllowListMatchesCRD checks that the allow-list of topic configs in
// the CEL rule on spec.config (in the rule, in the message's filter and in the
// message's text) is AllowedTopicConfigKeys exactly, in the same order: the
// operator and the API server must agree on which configs an EventStream may set.
func TestConfigAllowListMatchesCRD(t *testing.T) {
	rule := configRule(t)

	lists := quotedList.FindAllStringSubmatch(rule.Rule, -1)
	if len(lists) != 1 {
		t.Fatalf("want one list literal in the rule on spec.config, found %d: %s", len(lists), rule.Rule)
	}
	assertKeys(t, "the rule", splitQuoted(lists[0][1]))

	if rule.MessageExpression == "" {
		t.Fatalf("the rule on spec.config has no messageExpression naming the refused key")
	}
	inMessage := quotedList.FindAllStringSubmatch(rule.MessageExpression, -1)
	if len(inMessage) == 0 {
		t.Fatalf("the messageExpression on spec.config filters on no list literal: %s",
			rule.MessageExpression)
	}
	for i, l := range inMessage {
		assertKeys(t, fmt.Sprintf("list literal %d of the messageExpression", i+1), splitQuoted(l[1]))
	}
	text := allowedKeysText.FindStringSubmatch(rule.MessageExpression)
	if text == nil {
		t.Fatalf("the messageExpression on spec.config does not spell out the allowed keys: %s",
			rule.MessageExpression)
	}
	assertKeys(t, "the messageExpression's text", strings.Split(text[1], ", "))
}

// configRule returns the single CEL rule on spec.config of the EventStream CRD.
func configRule(t *testing.T) apiextensionsv1.ValidationRule {
	t.Helper()
	path := filepath.Join("..", "..", "config", "crd", "bases", "eventpipe.io_eventstreams.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the EventStream CRD (run `make manifests`): %v", err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(raw, &crd); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}

	for _, v := range crd.Spec.Versions {
		if v.Name != eventpipev1alpha1.GroupVersion.Version {
			continue
		}
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			t.Fatalf("version %s of the EventStream CRD has no schema", v.Name)
		}
		config, ok := v.Schema.OpenAPIV3Schema.Properties["spec"].Properties["config"]
		if !ok {
			t.Fatalf("the EventStream CRD has no spec.config")
		}
		if len(config.XValidations) != 1 {
			t.Fatalf("want one CEL rule on spec.config, found %d", len(config.XValidations))
		}
		return config.XValidations[0]
	}
	t.Fatalf("the EventStream CRD has no version %s", eventpipev1alpha1.GroupVersion.Version)
	return apiextensionsv1.ValidationRule{}
}

// splitQuoted splits "'a', 'b'" into a and b.
func splitQuoted(list string) []string {
	var keys []string
	for _, item := range strings.Split(list, ",") {
		keys = append(keys, strings.Trim(strings.TrimSpace(item), "'"))
	}
	return keys
}

func assertKeys(t *testing.T, where string, got []string) {
	t.Helper()
	want := eventpipev1alpha1.AllowedTopicConfigKeys
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("the allow-list in %s differs from AllowedTopicConfigKeys:\n got: %q\nwant: %q",
			where, got, want)
	}
}
