package node

import (
	"strings"
	"testing"
)

// TestSecondNodeOnBusyLibp2pPortFails: libp2p's SO_REUSEPORT would let a second
// node share the first one's TCP and QUIC ports; it must refuse to start instead.
func TestSecondNodeOnBusyLibp2pPortFails(t *testing.T) {
	a := startTestNode(t)
	var ports int
	for _, la := range a.Host().Network().ListenAddresses() {
		if !strings.Contains(la.String(), "/tcp/") && !strings.Contains(la.String(), "/udp/") {
			continue // the relay transport's /p2p-circuit holds no port
		}
		ports++
		t.Run(la.String(), func(t *testing.T) {
			cfg := testConfig()
			cfg.Addresses.Listen = []string{la.String()}
			n, err := New(cfg, nil)
			if err == nil {
				n.Close()
				t.Fatalf("a second node started on %s, held by the first", la)
			}
			if !strings.Contains(err.Error(), la.String()) || !strings.Contains(err.Error(), "address already in use") {
				t.Errorf("error should name the address and say it is in use: %v", err)
			}
		})
	}
	if ports < 2 {
		t.Fatalf("want a TCP and a QUIC address, have %v", a.Host().Network().ListenAddresses())
	}
}
