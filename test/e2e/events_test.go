//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	. "github.com/onsi/gomega"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

// Payment event types, as the payment gateway publishes them.
const (
	typeAttempted = "com.example.payment.attempted"
	typeCaptured  = "com.example.payment.captured"
	typeRefunded  = "com.example.payment.refunded"
	typeDisputed  = "com.example.payment.disputed"
)

// paymentSource is the CloudEvents source of the gateway's events.
const paymentSource = "//payments.example.com/gateway/eu-west-1"

var (
	merchants = []struct{ id, name, category string }{
		{"m_4411", "Corner Grocery", "5411"},
		{"m_5812", "Trattoria Roma", "5812"},
		{"m_4121", "City Cabs", "4121"},
		{"m_5732", "Volt Electronics", "5732"},
	}
	cardCountries = []string{"DE", "FR", "NL", "ES", "IT"}
)

// paymentEvents returns n events of one type for payments 1..n, each with its
// own subject (the payment id) and realistic data.
func paymentEvents(eventType string, n int) []cloudevents.Event {
	events := make([]cloudevents.Event, 0, n)
	for i := 1; i <= n; i++ {
		payment := fmt.Sprintf("pay_%s_%04d", env.runID, i)
		m := merchants[i%len(merchants)]
		data := map[string]any{
			"paymentId": payment,
			"amount":    map[string]any{"value": fmt.Sprintf("%d.%02d", 5+i*7%400, i*13%100), "currency": "EUR"},
			"card": map[string]any{"brand": "visa", "last4": fmt.Sprintf("%04d", 1000+i*37%9000),
				"country": cardCountries[i%len(cardCountries)]},
			"merchant":  map[string]any{"id": m.id, "name": m.name, "categoryCode": m.category},
			"ipCountry": cardCountries[(i+1)%len(cardCountries)],
		}
		switch eventType {
		case typeRefunded:
			data["refundReason"] = "customer_request"
		case typeDisputed:
			data["disputeReason"] = "fraudulent"
		}
		e := cloudevents.NewEvent()
		e.SetID(fmt.Sprintf("%s-%s-%04d", env.runID, eventType[len("com.example.payment."):], i))
		e.SetSource(paymentSource)
		e.SetType(eventType)
		e.SetSubject(payment)
		e.SetTime(time.Now().UTC())
		e.SetExtension("schemaversion", "1")
		Expect(e.SetData(cloudevents.ApplicationJSON, data)).To(Succeed())
		events = append(events, e)
	}
	return events
}

// scaleCommand returns a scale command for target; its reason tags it, so
// the suite can see when the policy took it up.
func scaleCommand(target string, replicas int32, reason string) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID(fmt.Sprintf("%s-scale-%d", env.runID, time.Now().UnixNano()))
	e.SetSource("//monitoring.example.com/infra-monitoring")
	e.SetType(eventpipev1alpha1.ScaleCommandType)
	e.SetSubject(target)
	e.SetTime(time.Now().UTC())
	Expect(e.SetData(cloudevents.ApplicationJSON, eventpipev1alpha1.ScaleCommand{
		Target: target, DesiredReplicas: &replicas, Reason: reason,
	})).To(Succeed())
	return e
}

// byID indexes events by their id.
func byID(events []cloudevents.Event) map[string]cloudevents.Event {
	out := make(map[string]cloudevents.Event, len(events))
	for _, e := range events {
		out[e.ID()] = e
	}
	return out
}

// expectSameEvent checks that an output event is the input event unchanged:
// id, source, type, subject, time and data.
func expectSameEvent(g Gomega, got *cloudevents.Event, want cloudevents.Event) {
	g.Expect(got.Source()).To(Equal(want.Source()))
	g.Expect(got.Type()).To(Equal(want.Type()))
	g.Expect(got.Subject()).To(Equal(want.Subject()))
	g.Expect(got.Time().Equal(want.Time())).To(BeTrue(), "time %v, want %v", got.Time(), want.Time())
	var gotData, wantData any
	g.Expect(json.Unmarshal(got.Data(), &gotData)).To(Succeed())
	g.Expect(json.Unmarshal(want.Data(), &wantData)).To(Succeed())
	g.Expect(gotData).To(Equal(wantData))
}

// orderEvents returns n order-placed events of a web shop.
func orderEvents(n int) []cloudevents.Event {
	events := make([]cloudevents.Event, 0, n)
	for i := 1; i <= n; i++ {
		order := fmt.Sprintf("ord_%s_%04d", env.runID, i)
		e := cloudevents.NewEvent()
		e.SetID(fmt.Sprintf("%s-order-%04d", env.runID, i))
		e.SetSource("//shop.example.com/checkout")
		e.SetType("com.example.order.placed")
		e.SetSubject(order)
		e.SetTime(time.Now().UTC())
		Expect(e.SetData(cloudevents.ApplicationJSON, map[string]any{
			"orderId": order,
			"lines":   []map[string]any{{"sku": fmt.Sprintf("SKU-%03d", i%17), "quantity": 1 + i%3}},
			"total":   map[string]any{"value": fmt.Sprintf("%d.99", 9+i), "currency": "EUR"},
		})).To(Succeed())
		events = append(events, e)
	}
	return events
}
