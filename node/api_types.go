package node

import "github.com/dhtnode/dhtnode/client"

// The results of the node's library calls are the very types the HTTP API sends
// (defined with the client, which decodes them), so a Go program embedding a node
// and one driving a daemon see the same shapes.
type (
	// IDInfo describes a node: what the id command prints.
	IDInfo = client.IDInfo
	// MemberInfo is one gossip member as the node lists it.
	MemberInfo = client.MemberInfo
	// AddResult describes added content.
	AddResult = client.AddResult
	// GetResult describes a finished get.
	GetResult = client.GetResult
	// GetProgress is a snapshot of a get in progress.
	GetProgress = client.GetProgress
	// Transfer is one download in progress, piece by piece and peer by peer.
	Transfer = client.Transfer
	// TransferPeer is what one download knows about one provider.
	TransferPeer = client.TransferPeer
	// FileInfo is one file of ContentInfo.
	FileInfo = client.FileInfo
	// ContentInfo is a manifest and how much of it is held locally.
	ContentInfo = client.ContentInfo
	// ListEntry is one local content, as ls lists it.
	ListEntry = client.ListEntry
	// GCReport is what repo gc removed.
	GCReport = client.GCReport
	// RepoStatInfo counts what the blockstore holds.
	RepoStatInfo = client.RepoStatInfo
	// VerifyReport is the result of repo verify.
	VerifyReport = client.VerifyReport
)
