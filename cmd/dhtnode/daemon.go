package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/dhtnode/dhtnode/node"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// daemonFlags override config.json for one run; empty means "keep the config's".
type daemonFlags struct {
	gossip     string
	listen     []string
	join       []string
	secretFile string
	profile    string
	transport  string
	logLevel   string
}

func newDaemonCmd(g *globals) *cobra.Command {
	var f daemonFlags
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the node (initialises the repo on first run)",
		Long: `Daemon runs the node in the foreground: the libp2p host, gossip membership and
the local HTTP API. It creates the repo first when there is none. Flags override
config.json for this run (--api sets the API listen address), so several nodes can run on one machine from a script;
port 0 picks a free port, and "dhtnode id" shows the ports actually bound.

SIGINT or SIGTERM makes the node leave the cluster gracefully and exit; a second
signal exits at once.`,
		Example: `  dhtnode daemon
  DHTNODE_PATH=/tmp/n2 dhtnode daemon --api 127.0.0.1:5102 --listen /ip4/127.0.0.1/tcp/0 \
      --join "$(DHTNODE_PATH=/tmp/n1 dhtnode id --format '{{.GossipAddr}}')"
  dhtnode daemon --gossip-transport udp --gossip 0.0.0.0:7946 --join 10.0.0.1:7946`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDaemon(cmd, g, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.gossip, "gossip", "", "gossip bind address HOST:PORT (config addresses.gossip)")
	fl.StringArrayVar(&f.listen, "listen", nil, "libp2p listen multiaddr, repeatable (config addresses.listen)")
	fl.StringArrayVar(&f.join, "join", nil, "member to join, repeatable, retried in the background: HOST:PORT of its gossip port, or with --gossip-transport libp2p a multiaddr ending in /p2p/<peer ID> (config gossip.join)")
	fl.StringVar(&f.secretFile, "secret-file", "", "file with the base64 cluster key (config gossip.secret_file)")
	fl.StringVar(&f.profile, "profile", "", "gossip timing profile: lan, wan or local (config gossip.profile)")
	fl.StringVar(&f.transport, "gossip-transport", "", "gossip transport: udp (own port) or libp2p (over libp2p, crosses NAT) (config gossip.transport)")
	fl.StringVar(&f.logLevel, "log-level", "", "log level: debug, info, warn, error (config log.level)")
	return cmd
}

func runDaemon(cmd *cobra.Command, g *globals, f daemonFlags) error {
	path, err := g.repoPath()
	if err != nil {
		return err
	}
	repo, err := node.OpenRepo(path)
	if errors.Is(err, node.ErrNoRepo) {
		if repo, err = node.InitRepo(path, node.DefaultConfig()); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "initialised repo %s\n", path)
	}
	if err != nil {
		return err
	}
	if err := repo.Lock(); err != nil {
		return err
	}
	defer repo.Unlock()

	cfg, err := repo.Config()
	if err != nil {
		return err
	}
	applyDaemonFlags(&cfg, g, f)
	if err := cfg.Validate(); err != nil {
		return err
	}

	stderr := cmd.ErrOrStderr()
	handler, err := node.NewLogHandler(stderr, cfg.Log, isTerminal(stderr))
	if err != nil {
		return err
	}
	libLevel, _ := node.ParseLevel(cfg.Log.Libp2pLevel)
	node.RouteLibraryLogs(handler, libLevel)
	logger := slog.New(handler)
	if pid := repo.StaleLockPID(); pid != 0 {
		logger.Info("took over stale repo lock", "subsystem", "node", "old_pid", pid)
	}

	n, err := node.New(cfg, repo, node.WithLogger(logger))
	if err != nil {
		return err
	}
	info := n.IDInfo()
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "dhtnode %s daemon ready\npeer id: %s\ngossip:  %s (%s)\napi:     %s\n", info.Version, info.PeerID, info.GossipAddr, gossipWhere(info), info.APIAddr)
	for _, a := range info.ListenAddrs {
		fmt.Fprintf(out, "listen:  %s\n", a)
	}
	if len(info.Cluster.Seeds) > 0 {
		// Joining goes on in the background; say where to see whether it worked.
		fmt.Fprintf(out, "joining: %s in the background (\"dhtnode id\" shows whether it worked)\n", strings.Join(info.Cluster.Seeds, ", "))
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	select {
	case sig := <-sigs:
		logger.Info("signal received; leaving the cluster", "subsystem", "node", "signal", sig.String())
		// A second signal means "now": exit without waiting for the leave.
		go func() {
			<-sigs
			logger.Warn("second signal; exiting at once", "subsystem", "node")
			repo.Unlock()
			os.Exit(1)
		}()
		if err := n.Leave(); err != nil {
			logger.Warn("graceful leave failed", "subsystem", "node", "err", err)
		}
	case <-n.StopRequested():
		logger.Info("stop requested through the API", "subsystem", "node", "reason", n.StopReason())
	}
	if err := n.Close(); err != nil {
		logger.Warn("shutdown", "subsystem", "node", "err", err)
	}
	fmt.Fprintln(out, "daemon stopped")
	return nil
}

// applyDaemonFlags lays the command-line overrides over the config.
func applyDaemonFlags(cfg *node.Config, g *globals, f daemonFlags) {
	if f.gossip != "" {
		cfg.Addresses.Gossip = f.gossip
	}
	if len(f.listen) > 0 {
		cfg.Addresses.Listen = f.listen
	}
	// --api (global) names the API address for clients and daemon alike.
	switch {
	case g.api != "":
		cfg.Addresses.API = g.api
	case os.Getenv(EnvAPI) != "":
		cfg.Addresses.API = os.Getenv(EnvAPI)
	}
	if len(f.join) > 0 {
		cfg.Gossip.Join = f.join
	}
	if f.secretFile != "" {
		cfg.Gossip.Secret = ""
		cfg.Gossip.SecretFile = absPath(f.secretFile)
	}
	if f.transport != "" {
		cfg.Gossip.Transport = f.transport
	}
	if f.profile != "" {
		cfg.Gossip.Profile = f.profile
	}
	if f.logLevel != "" {
		cfg.Log.Level = f.logLevel
	}
}

// absPath makes a command-line path absolute so the repo does not reinterpret it.
func absPath(p string) string {
	if wd, err := os.Getwd(); err == nil && p != "" && p[0] != '/' {
		return wd + "/" + p
	}
	return p
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func peerIDOf(key crypto.PrivKey) (peer.ID, error) { return peer.IDFromPrivateKey(key) }

// gossipWhere says where gossip runs, after the join address: the socket bound
// on udp; on libp2p, that it rides libp2p and the member address derived from
// the peer ID.
func gossipWhere(info node.IDInfo) string {
	if info.GossipTransport == node.GossipLibp2p {
		return "over libp2p, member address " + info.GossipBind
	}
	return "bound to " + info.GossipBind
}
