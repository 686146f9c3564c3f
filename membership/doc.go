// Package membership turns gossip's membership events into the calls routers take
// (routing.MembershipListener): a member that joins or updates its addresses while
// alive becomes PeerUp, one that leaves or fails after having been up becomes
// PeerDown. The daemon (node) and the simulator (compare) both feed their routers
// through a Dispatcher, so what compare measures is what a daemon's routers see.
package membership
