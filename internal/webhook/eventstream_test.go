package webhook

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

func TestEventStreamValidator(t *testing.T) {
	mk := func(config map[string]string) *eventpipev1alpha1.EventStream {
		return &eventpipev1alpha1.EventStream{
			ObjectMeta: metav1.ObjectMeta{Namespace: "fintech", Name: "payments"},
			Spec:       eventpipev1alpha1.EventStreamSpec{Partitions: 3, Config: config},
		}
	}
	tests := []struct {
		name    string
		stream  *eventpipev1alpha1.EventStream
		wantErr string
	}{
		{name: "accepts allowed configs", stream: mk(map[string]string{"cleanup.policy": "compact"})},
		{name: "refuses a bad value, naming the key", stream: mk(map[string]string{"compression.type": "rar"}),
			wantErr: `EventStream payments: config compression.type="rar" is not valid`},
		{name: "refuses an unknown key", stream: mk(map[string]string{"flush.ms": "1"}),
			wantErr: "config key flush.ms is not allowed"},
	}
	v := EventStreamValidator{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for op, validate := range map[string]func() error{
				"create": func() error { _, err := v.ValidateCreate(context.Background(), tt.stream); return err },
				"update": func() error { _, err := v.ValidateUpdate(context.Background(), mk(nil), tt.stream); return err },
			} {
				err := validate()
				if tt.wantErr == "" && err != nil {
					t.Errorf("%s: unexpected error %v", op, err)
				}
				if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
					t.Errorf("%s: error = %v, want it to contain %q", op, err, tt.wantErr)
				}
			}
		})
	}
	if _, err := v.ValidateDelete(context.Background(), mk(map[string]string{"flush.ms": "1"})); err != nil {
		t.Errorf("ValidateDelete() = %v, want every deletion allowed", err)
	}
}
