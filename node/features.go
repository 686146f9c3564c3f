package node

// startFeatures wires the optional parts of a node after gossip is up and before the
// API starts: the routers (routers.go), then the blockstore and the exchange
// (content.go), which announce content through the routers. Each start function
// registers its cleanup with n.onClose and its membership listeners with
// n.AddMembershipListener; its state lives in routerState or contentState.
func (n *Node) startFeatures() error {
	if err := n.startRouters(); err != nil {
		return err
	}
	if err := n.startContent(); err != nil {
		return err
	}
	return nil
}
