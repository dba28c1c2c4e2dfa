package rendered

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// The objects of other projects' CRDs that the chart and config/ render,
// in the part the tests read: the module has no Go types for them.

// Certificate is a cert-manager Certificate.
type Certificate struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     struct {
		SecretName string   `json:"secretName"`
		DNSNames   []string `json:"dnsNames"`
		IssuerRef  struct {
			Name  string `json:"name"`
			Kind  string `json:"kind"`
			Group string `json:"group"`
		} `json:"issuerRef"`
	} `json:"spec"`
}

// Issuer is a cert-manager Issuer.
type Issuer struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     struct {
		SelfSigned *struct{} `json:"selfSigned"`
	} `json:"spec"`
}

// ServiceMonitor is a Prometheus Operator ServiceMonitor.
type ServiceMonitor struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port            string `json:"port"`
			Scheme          string `json:"scheme"`
			Path            string `json:"path"`
			Interval        string `json:"interval"`
			BearerTokenFile string `json:"bearerTokenFile"`
			TLSConfig       *struct {
				InsecureSkipVerify bool `json:"insecureSkipVerify"`
			} `json:"tlsConfig"`
		} `json:"endpoints"`
	} `json:"spec"`
}
