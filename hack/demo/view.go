package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

// viewTimeout bounds the reads of one live view.
const viewTimeout = 2 * time.Second

// printView prints one live view: the streams, the consumers, the
// autoscaler and the event counts. A read that fails shows as a line of its
// own; the next view tries again.
func (d *demo) printView(ctx context.Context, elapsed time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, viewTimeout)
	defer cancel()
	var b strings.Builder
	fmt.Fprintf(&b, "── eventpipe demo · %s · namespace %s · t+%s %s\n",
		time.Now().Format("15:04:05"), demoNamespace, elapsed.Round(time.Second), strings.Repeat("─", 20))
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	d.streamRows(ctx, w)
	fmt.Fprintln(w)
	d.consumerRows(ctx, w)
	fmt.Fprintln(w)
	d.autoscalerRows(ctx, w)
	fmt.Fprintln(w)
	d.eventRows(w)
	_ = w.Flush()
	fmt.Fprintln(os.Stdout, b.String())
}

func (d *demo) streamRows(ctx context.Context, w *tabwriter.Writer) {
	list := &eventpipev1alpha1.EventStreamList{}
	if err := d.cluster.k8s.List(ctx, list, client.InNamespace(demoNamespace)); err != nil {
		fmt.Fprintf(w, "STREAMS\t(cannot list: %v)\n", err)
		return
	}
	fmt.Fprintln(w, "STREAM\tTOPIC\tPARTITIONS\tREADY\t")
	for _, s := range list.Items {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t\n", s.Name, s.Status.TopicName, s.Status.Partitions,
			readyText(s.Status.Conditions))
	}
}

func (d *demo) consumerRows(ctx context.Context, w *tabwriter.Writer) {
	list := &eventpipev1alpha1.ConsumerList{}
	if err := d.cluster.k8s.List(ctx, list, client.InNamespace(demoNamespace)); err != nil {
		fmt.Fprintf(w, "CONSUMERS\t(cannot list: %v)\n", err)
		return
	}
	fmt.Fprintln(w, "CONSUMER\tSTREAM\tREPLICAS\tREADY REPLICAS\tWORKER PROCESSES\tLAG\tMAX PARTITION LAG\tREADY\t")
	for _, c := range list.Items {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", c.Name, c.Spec.Stream,
			c.Status.Replicas, c.Status.ReadyReplicas, d.cluster.workers(c.Name),
			c.Status.Lag, c.Status.MaxPartitionLag, readyText(c.Status.Conditions))
	}
}

func (d *demo) autoscalerRows(ctx context.Context, w *tabwriter.Writer) {
	list := &eventpipev1alpha1.AutoscalePolicyList{}
	if err := d.cluster.k8s.List(ctx, list, client.InNamespace(demoNamespace)); err != nil {
		fmt.Fprintf(w, "AUTOSCALERS\t(cannot list: %v)\n", err)
		return
	}
	fmt.Fprintln(w, "AUTOSCALER\tTARGET\tFLOOR\tDESIRED\tMAX\tLAG\tBREAKER\tLAST COMMAND\tREADY\t")
	for _, p := range list.Items {
		breaker := string(p.Status.Breaker.State)
		if breaker == "" {
			breaker = "-"
		}
		if p.Status.Breaker.Trip != "" {
			breaker += " (" + p.Status.Breaker.Trip + ")"
		}
		last := "-"
		if c := p.Status.LastCommand; c != nil {
			last = fmt.Sprintf("%d at %s", c.DesiredReplicas, c.Time.Format("15:04:05"))
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t\n", p.Name, p.Spec.Target,
			p.Status.Floor, p.Status.DesiredReplicas, p.Status.MaxReplicas, p.Status.Lag,
			breaker, last, readyText(p.Status.Conditions))
	}
}

// eventRows are the counts from Kafka: what the demo produced, and what it
// read back from the router's output and dead-letter streams.
func (d *demo) eventRows(w *tabwriter.Writer) {
	s := d.stats
	orders, unrouted, malformed := s.orders.Load(), s.unrouted.Load(), s.malformed.Load()
	burst := "pending"
	if s.burstSent.Load() {
		burst = fmt.Sprintf("sent (%d)", burstSize)
	}
	sent, _ := s.lastCmd.Load().(string)
	if sent == "" {
		sent = "-"
	}
	fmt.Fprintln(w, "EVENTS\tCOUNT\tEXPECTED\tNOTE\t")
	fmt.Fprintf(w, "in: %s\t%d\t\t%d orders, %d unrouted, %d malformed; burst %s\t\n", streamOrders,
		orders+unrouted+malformed, orders, unrouted, malformed, burst)
	fmt.Fprintf(w, "out: %s\t%d\t%d\tcom.example.order.*\t\n", streamRouted, s.routed.Load(), orders)
	fmt.Fprintf(w, "out: %s\t%d\t%d\tunrouted types and malformed messages\t\n", streamDLQ,
		s.dlq.Load(), unrouted+malformed)
	fmt.Fprintf(w, "scale commands sent\t%d\t\tlast: %s\t\n", s.commands.Load(), sent)
}
