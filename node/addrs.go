package node

import (
	"slices"

	"github.com/libp2p/go-libp2p/core/event"
	ma "github.com/multiformats/go-multiaddr"
)

// watchAddrs keeps the gossip metadata in step with the host's addresses: when an
// interface comes or goes, the host emits EvtLocalAddressesUpdated and the other
// members must learn the new multiaddrs, or they would dial stale ones.
func (n *Node) watchAddrs() error {
	sub, err := n.host.EventBus().Subscribe(new(event.EvtLocalAddressesUpdated))
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := n.host.Addrs()
		for range sub.Out() {
			cur := n.host.Addrs()
			if sameAddrs(last, cur) {
				continue
			}
			if err := n.gossip.SetAddrs(cur); err != nil {
				n.Logger("node").Warn("cannot advertise new addresses", "addrs", cur, "err", err)
				continue
			}
			n.Logger("node").Info("advertising new addresses", "addrs", cur)
			last = cur
		}
	}()
	n.onClose(func() error {
		err := sub.Close() // closes sub.Out, ending the goroutine
		<-done
		return err
	})
	return nil
}

func sameAddrs(a, b []ma.Multiaddr) bool {
	return slices.EqualFunc(a, b, func(x, y ma.Multiaddr) bool { return x.Equal(y) })
}
