package node

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"

	ma "github.com/multiformats/go-multiaddr"
)

// checkListenPorts fails when a fixed libp2p listen port is already bound. libp2p
// binds with SO_REUSEPORT, so a second daemon given the same address would start
// without a word and share the port with the first: peers would then reach either
// one at random and fail with "peer id mismatch". A bind without SO_REUSEPORT
// refuses a port held by anyone, so each address is tried that way first (and
// released at once). Port 0 and non-IP addresses are left to libp2p.
func checkListenPorts(addrs []ma.Multiaddr) error {
	for _, a := range addrs {
		network, hostport, ok := probeTarget(a)
		if !ok {
			continue
		}
		var err error
		if network == "tcp" {
			var l net.Listener
			if l, err = net.Listen("tcp", hostport); err == nil {
				err = l.Close()
			}
		} else {
			var c net.PacketConn
			if c, err = net.ListenPacket("udp", hostport); err == nil {
				err = c.Close()
			}
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("libp2p listen address %s is taken (another dhtnode daemon?); pick another with --listen or addresses.listen: %w", a, syscall.EADDRINUSE)
		}
		if err != nil {
			return fmt.Errorf("libp2p listen address %s: %w", a, err)
		}
	}
	return nil
}

// probeTarget says which socket a listen address binds: tcp or udp, and host:port;
// false for port 0 or an address that is not a plain IP one.
func probeTarget(a ma.Multiaddr) (network, hostport string, ok bool) {
	ip, err := a.ValueForProtocol(ma.P_IP4)
	if err != nil {
		if ip, err = a.ValueForProtocol(ma.P_IP6); err != nil {
			return "", "", false
		}
	}
	network = "tcp"
	port, err := a.ValueForProtocol(ma.P_TCP)
	if err != nil {
		network = "udp"
		if port, err = a.ValueForProtocol(ma.P_UDP); err != nil {
			return "", "", false
		}
	}
	if p, err := strconv.Atoi(port); err != nil || p == 0 {
		return "", "", false
	}
	return network, net.JoinHostPort(ip, port), true
}
