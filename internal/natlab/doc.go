// Package natlab is a network laboratory for dhtnode: network namespaces joined
// by a bridge that plays the internet, NAT routers made with ip6tables
// MASQUERADE, and real dhtnode daemon processes inside them. Its tests show
// that members behind NAT join, stay alive in every view, are detected when
// killed, and share content directly (hole punched) or through a relay.
//
// The lab's internet is 3fff::/20 (RFC 9637's documentation range, which
// libp2p counts as public, so AutoNAT, relays and hole punching treat it as
// the real thing); the LANs behind the routers are unique-local fd00::/8. The
// namespaces have no link to the host's network, so nothing routes out. The
// tests need root and the ip and ip6tables commands and skip without them.
package natlab
