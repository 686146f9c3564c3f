// Package p2pgossip carries hashicorp/memberlist over libp2p: a
// memberlist.NodeAwareTransport whose packets and streams travel on libp2p
// streams, so SWIM gossip uses the node's identity, encryption, connections and
// NAT traversal (relays, hole punching) instead of a UDP/TCP port of its own.
//
// Protocols:
//
//   - PacketProtocol ("/dhtnode/gossip/packet/1.0.0"): memberlist's best-effort
//     packets as frames (uvarint length, then the bytes) on one kept outbound
//     stream per peer. Each peer has a bounded send queue served by one goroutine;
//     a full queue, a packet older than MaxPacketAge or a failed dial drops the
//     packet, as UDP would, so WriteTo never blocks. Streams may run on a
//     relay's limited connection (a member behind NAT); a packet stream leaves
//     it for a direct connection as soon as one exists.
//   - StreamProtocol ("/dhtnode/gossip/stream/1.0.0"): memberlist's reliable
//     streams (push/pull, fallback pings), one libp2p stream each.
//
// Addressing. memberlist wants an IP and a port for every node; libp2p wants a
// peer ID. Each peer gets a gossip address derived from its peer ID (AddrOf: an
// IPv6 address in the unique-local range fd64:68::/32 with 104 bits of
// SHA-256(peer ID), and port Port). Node names are peer IDs in dhtnode, so the
// transport finds the peer from memberlist.Address.Name; for calls with no name
// (memberlist's join and reconnect) it keeps a table from derived address to peer
// ID, filled by every peer it has heard from or been told about. The derived
// address is what the gossip layer signs in its metadata, and a packet's From is
// the authenticated remote peer's address, so no member can speak for another.
// JoinAddr turns a multiaddr ending in /p2p/<peer ID> into memberlist's
// "name/host:port" join syntax and remembers its addresses.
//
// Goroutines: one sender per peer with queued packets (it exits after IdleTimeout
// without traffic), one reader per inbound packet stream (libp2p's handler
// goroutine). Shutdown stops them all and waits.
package p2pgossip
