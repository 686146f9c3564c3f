package node

// startFeatures wires the optional parts of a node after gossip is up and before the
// API starts. Each feature has a file of its own with a start function that may
// register cleanup with n.onClose and membership listeners with
// n.AddMembershipListener: routers in routers.go (owned by the routers wiring),
// content exchange in content.go (owned by the content wiring). Their state lives in
// the routerState and contentState types those files define.
func (n *Node) startFeatures() error {
	if err := n.startRouters(); err != nil {
		return err
	}
	if err := n.startContent(); err != nil {
		return err
	}
	return nil
}
