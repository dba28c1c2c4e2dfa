package chart

import (
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/eventpipe/eventpipe/test/rendered"
)

// TestManagerClusterRoleMatchesGenerated keeps the chart's ClusterRole equal
// to config/rbac/role.yaml, which controller-gen writes from the
// +kubebuilder:rbac markers: a permission added to the code fails here until
// the chart grants it too.
func TestManagerClusterRoleMatchesGenerated(t *testing.T) {
	t.Parallel()
	var want rbacv1.ClusterRole
	readManifest(t, filepath.Join(rendered.RepoRoot(t), "config", "rbac", "role.yaml")).Get(t, "ClusterRole", managerName, &want)
	var got rbacv1.ClusterRole
	render(t).Get(t, "ClusterRole", managerName, &got)
	if !reflect.DeepEqual(got.Rules, want.Rules) {
		t.Errorf("the chart's ClusterRole %s differs from config/rbac/role.yaml; copy the rules of role.yaml "+
			"into charts/eventpipe/templates/rbac-manager.yaml.\nchart:\n%s\nconfig/rbac/role.yaml:\n%s",
			managerName, toYAML(got.Rules), toYAML(want.Rules))
	}
}

// TestRBACMatchesConfig compares every Role, ClusterRole and binding of
// config/rbac (the kustomize install) with the chart's object of the same
// kind and name, so both installs grant the same permissions.
func TestRBACMatchesConfig(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(rendered.RepoRoot(t), "config", "rbac", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("list config/rbac: %v (%d files)", err, len(files))
	}
	chart := render(t)
	checked := 0
	for _, file := range files {
		if filepath.Base(file) == "kustomization.yaml" {
			continue
		}
		for _, o := range readManifest(t, file) {
			t.Run(o.String(), func(t *testing.T) {
				compareRBAC(t, chart, o)
			})
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("config/rbac holds no objects")
	}
}

func compareRBAC(t *testing.T, chart manifest, want object) {
	t.Helper()
	switch want.Kind {
	case "ClusterRole", "Role":
		var w, g rbacv1.ClusterRole // a Role has the same fields
		decodeStrict(t, want, &w)
		chart.Get(t, want.Kind, want.Name, &g)
		if !reflect.DeepEqual(g.Rules, w.Rules) {
			t.Errorf("rules differ.\nchart:\n%s\nconfig:\n%s", toYAML(g.Rules), toYAML(w.Rules))
		}
	case "ClusterRoleBinding", "RoleBinding":
		var w, g rbacv1.ClusterRoleBinding
		decodeStrict(t, want, &w)
		chart.Get(t, want.Kind, want.Name, &g)
		if g.RoleRef != w.RoleRef {
			t.Errorf("roleRef = %+v, want %+v", g.RoleRef, w.RoleRef)
		}
		if !reflect.DeepEqual(g.Subjects, w.Subjects) {
			t.Errorf("subjects differ.\nchart:\n%s\nconfig:\n%s", toYAML(g.Subjects), toYAML(w.Subjects))
		}
	case "ServiceAccount":
		if !chart.Has(want.Kind, want.Name) {
			t.Errorf("the chart renders no ServiceAccount %s", want.Name)
		}
	default:
		t.Fatalf("config/rbac holds a %s the test does not know", want.Kind)
	}
	if o, ok := chart.Find(want.Kind, want.Name); ok && o.Namespace != want.Namespace {
		t.Errorf("namespace = %q, config has %q", o.Namespace, want.Namespace)
	}
}

func TestRBACToggles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		absent  []string
		present []string
	}{{
		name:   "no aggregated user roles",
		args:   []string{"--set", "rbac.aggregateToDefaultRoles=false"},
		absent: []string{"ClusterRole/eventpipe-eventstream-editor", "ClusterRole/eventpipe-consumer-viewer"},
	}, {
		name:    "no leader election",
		args:    []string{"--set", "leaderElection.enabled=false"},
		absent:  []string{"Role/eventpipe-leader-election", "RoleBinding/eventpipe-leader-election"},
		present: []string{"ClusterRole/eventpipe-manager"},
	}, {
		name: "plain HTTP metrics need no token reviews",
		args: []string{"--set", "metrics.secure=false"},
		absent: []string{
			"ClusterRole/eventpipe-metrics-auth", "ClusterRoleBinding/eventpipe-metrics-auth",
			"ClusterRole/eventpipe-metrics-reader",
		},
	}, {
		name:    "existing ServiceAccount",
		args:    []string{"--set", "serviceAccount.create=false", "--set", "serviceAccount.name=platform-operator"},
		absent:  []string{"ServiceAccount/eventpipe-manager", "ServiceAccount/platform-operator"},
		present: []string{"ClusterRoleBinding/eventpipe-manager"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := render(t, tt.args...)
			names := m.Names()
			for _, n := range tt.absent {
				if slices.Contains(names, n) {
					t.Errorf("%s rendered", n)
				}
			}
			for _, n := range tt.present {
				if !slices.Contains(names, n) {
					t.Errorf("%s not rendered", n)
				}
			}
		})
	}
}

func TestBindingsNameTheManagerServiceAccount(t *testing.T) {
	t.Parallel()
	m := render(t, "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=platform-operator",
		"--set", "leaderElection.namespace=leases")
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		for _, o := range m.OfKind(kind) {
			var b rbacv1.ClusterRoleBinding
			decodeStrict(t, o, &b)
			want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "platform-operator", Namespace: namespace}}
			if !reflect.DeepEqual(b.Subjects, want) {
				t.Errorf("%s subjects = %s, want the ServiceAccount platform-operator", o, toYAML(b.Subjects))
			}
		}
	}
	if o, ok := m.Find("Role", "eventpipe-leader-election"); !ok || o.Namespace != "leases" {
		t.Errorf("leader election Role not in leaderElection.namespace: %+v", o)
	}
}
