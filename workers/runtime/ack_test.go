package runtime

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"
)

func TestDeliveryErrorNamesTheCause(t *testing.T) {
	tooLarge := sarama.ProducerErrors{
		{Msg: &sarama.ProducerMessage{Topic: "orders"}, Err: sarama.ErrMessageSizeTooLarge},
		{Msg: &sarama.ProducerMessage{Topic: "orders"}, Err: sarama.ErrMessageSizeTooLarge},
	}
	other := errors.New("circuit breaker is open")
	tests := []struct {
		name      string
		err       error
		wantText  string
		wantCause error
	}{
		{name: "producer errors", err: tooLarge,
			wantText: "2 messages not delivered, the first to topic orders: " +
				sarama.ErrMessageSizeTooLarge.Error(),
			wantCause: sarama.ErrMessageSizeTooLarge},
		{name: "other error", err: other, wantText: other.Error(), wantCause: other},
		{name: "no message failed", err: sarama.ProducerErrors{}, wantText: sarama.ProducerErrors{}.Error()},
	}
	for _, tt := range tests {
		got := deliveryError(tt.err)
		if got.Error() != tt.wantText {
			t.Errorf("%s: deliveryError = %q, want %q", tt.name, got.Error(), tt.wantText)
		}
		if tt.wantCause != nil && !errors.Is(got, tt.wantCause) {
			t.Errorf("%s: deliveryError = %v, want it to wrap %v", tt.name, got, tt.wantCause)
		}
	}
}
