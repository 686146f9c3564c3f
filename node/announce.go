package node

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/blockstore"
	"github.com/dhtnode/dhtnode/routing"
)

// announceSettle lets the burst of PeerUps that follows a gossip join reach the routing
// tables before the first announcement looks for the keys' closest nodes.
const announceSettle = time.Second

// announceWorkers bounds the provides of one announcement running at once: each is a
// lookup, and a store with thousands of contents must not start thousands together.
const announceWorkers = 8

// storeAnnouncer announces every content the store can serve each time this node goes
// from having no peer to having one: at start, when gossip brings the first member, and
// after the node was cut off. Provider records live in other nodes' memory and in the
// routers' re-announce sets, so a restart loses them all; and content added while the
// node was alone was announced to nobody. kubo's reprovider and a BitTorrent client's
// announce at start-up do the same. After an announcement the routers re-announce each
// key on their own schedule.
//
// It is a routing.MembershipListener; its callbacks only count peers and start the
// announcement on a goroutine of the content state (n.content.wg), so Close waits for it.
type storeAnnouncer struct {
	n *Node

	mu      sync.Mutex
	peers   map[peer.ID]struct{}
	running bool // an announcement is under way
	again   bool // the node was cut off and rejoined during it: announce once more
	closed  bool // the node is closing: start nothing (content.wg is being waited on)
}

var _ routing.MembershipListener = (*storeAnnouncer)(nil)

// startAnnouncer registers the announcer; the content store and the routers must be up.
func (n *Node) startAnnouncer() {
	if n.content.store == nil || len(n.Routers()) == 0 {
		return
	}
	a := &storeAnnouncer{n: n, peers: make(map[peer.ID]struct{})}
	n.AddMembershipListener(a)
	// Registered after the content state's closer, so it runs first: gossip may still
	// deliver a PeerUp while that closer waits for content.wg.
	n.onClose(func() error {
		a.mu.Lock()
		a.closed = true
		a.mu.Unlock()
		return nil
	})
}

// PeerUp counts the peer and, when it is the only one, starts an announcement.
func (a *storeAnnouncer) PeerUp(info peer.AddrInfo) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, known := a.peers[info.ID]; known {
		return
	}
	a.peers[info.ID] = struct{}{}
	if len(a.peers) != 1 || a.closed {
		return
	}
	if a.running {
		a.again = true
		return
	}
	a.running = true
	a.n.content.wg.Add(1)
	go a.run()
}

// PeerDown forgets the peer.
func (a *storeAnnouncer) PeerDown(id peer.ID) {
	a.mu.Lock()
	delete(a.peers, id)
	a.mu.Unlock()
}

func (a *storeAnnouncer) run() {
	defer a.n.content.wg.Done()
	for {
		a.announce()
		a.mu.Lock()
		if !a.again {
			a.running = false
			a.mu.Unlock()
			return
		}
		a.again = false
		a.mu.Unlock()
	}
}

// announce provides every content the store holds a piece of (or an empty one, which is
// its manifest alone) through the content router and logs the outcome.
func (a *storeAnnouncer) announce() {
	n := a.n
	ctx := n.content.ctx
	log := n.Logger("content")
	select {
	case <-ctx.Done():
		return
	case <-time.After(announceSettle):
	}
	infos, err := n.content.store.List()
	if err != nil {
		log.Warn("cannot list the store to announce its content", "err", err)
		return
	}
	var servable []blockstore.ContentInfo
	for _, info := range infos {
		if info.Have > 0 || info.Pieces == 0 {
			servable = append(servable, info)
		}
	}
	if len(servable) == 0 {
		return
	}
	var (
		failed atomic.Int64
		wg     sync.WaitGroup
		work   = make(chan blockstore.ContentInfo)
	)
	for range min(announceWorkers, len(servable)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for info := range work {
				// Through every router, as add announces: a getter may search any.
				for _, r := range n.Routers() {
					if err := n.provideOnce(r, info.ID); err != nil {
						log.Debug("announcing stored content failed", "id", info.ID.String(), "router", r.Name(), "err", err)
						failed.Add(1)
					}
				}
			}
		}()
	}
feed:
	for _, info := range servable {
		select {
		case work <- info:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	if failed.Load() > 0 {
		log.Warn("announced stored content", "routers", len(n.Routers()), "contents", len(servable), "failed", failed.Load())
		return
	}
	log.Info("announced stored content", "routers", len(n.Routers()), "contents", len(servable))
}
