package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/node"
	"github.com/spf13/cobra"
)

// devnetReady bounds how long a devnet may take to start and converge.
const devnetReady = 2 * time.Minute

// devnetStop bounds a node's graceful leave before it is killed.
const devnetStop = 20 * time.Second

const devnetLong = `Devnet starts a local cluster of N real nodes on 127.0.0.1: N daemon processes
of this same binary, each with its own repo (DIR/n1 ... DIR/nN) and free ports, all
joined through n1. It waits until every node sees all N alive, prints one line per
node and the web UI's address, and keeps running; Ctrl-C (or SIGTERM) makes every
node leave the cluster gracefully and stop.

Without --dir the repos go to a temporary directory removed on exit; with --dir
they stay (and a later devnet with the same --dir reuses them: same peer IDs, same
content). Each node's log is DIR/nK/daemon.log.

While it runs, every other command works against any node through its repo:
DHTNODE_PATH=DIR/n3 dhtnode lookup hello, or --repo DIR/n3. Stopping one node
(dhtnode --repo DIR/n2 shutdown, or kill) leaves the others running, to watch the
cluster notice.`

// devnetFlags are devnet's options.
type devnetFlags struct {
	dir     string
	routers string
}

func newDevnetCmd(g *globals) *cobra.Command {
	var f devnetFlags
	cmd := &cobra.Command{
		Use:   "devnet N",
		Short: "Run a local cluster of N nodes on 127.0.0.1 (the quickest way to try dhtnode)",
		Long:  devnetLong,
		Example: `  dhtnode devnet 5
  dhtnode devnet 3 --dir /tmp/dn --routers chord,kademlia,onehop
  DHTNODE_PATH=/tmp/dn/n3 dhtnode lookup hello --via all`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 1 || n > 64 {
				return fmt.Errorf("devnet: N must be a number of nodes from 1 to 64, not %q", args[0])
			}
			routers, err := parseRouters(f.routers)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runDevnet(ctx, cmd.OutOrStdout(), n, f.dir, routers)
		},
	}
	cmd.Flags().StringVar(&f.dir, "dir", "", "directory for the nodes' repos, kept on exit (default: a temporary directory, removed)")
	cmd.Flags().StringVar(&f.routers, "routers", "chord,kademlia,onehop", "routers every node runs, comma separated: chord, kademlia, onehop")
	return cmd
}

// parseRouters reads --routers; node.Config.Validate checks the names.
func parseRouters(s string) ([]string, error) {
	var out []string
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("devnet: --routers names no router")
	}
	return out, nil
}

// devnetNode is one daemon process of a devnet.
type devnetNode struct {
	name string // n1 … nN
	repo string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when the process has exited
	info client.IDInfo
}

// runDevnet starts the cluster, reports it on out and runs until ctx ends.
func runDevnet(ctx context.Context, out io.Writer, n int, dir string, routers []string) (err error) {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("devnet: cannot find this program to start nodes: %w", err)
	}
	temp := dir == ""
	if temp {
		if dir, err = os.MkdirTemp("", "dhtnode-devnet-"); err != nil {
			return fmt.Errorf("devnet: %w", err)
		}
		defer os.RemoveAll(dir)
	} else if dir, err = filepath.Abs(dir); err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	nodes := make([]*devnetNode, n)
	for i := range nodes {
		nodes[i] = &devnetNode{name: fmt.Sprintf("n%d", i+1), repo: filepath.Join(dir, fmt.Sprintf("n%d", i+1))}
		if err := initDevnetRepo(nodes[i].repo, routers); err != nil {
			return err
		}
	}
	defer stopDevnet(out, nodes)

	readyCtx, cancel := context.WithTimeout(ctx, devnetReady)
	defer cancel()
	// n1 first: the others join through its gossip address.
	if err := nodes[0].start(exe, ""); err != nil {
		return err
	}
	if err := nodes[0].waitAPI(readyCtx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, nd := range nodes[1:] {
		if err := nd.start(exe, nodes[0].info.GossipAddr); err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i+1] = nd.waitAPI(readyCtx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := waitConverged(readyCtx, nodes); err != nil {
		return err
	}

	where := dir
	if temp {
		where += " (removed on exit)"
	}
	fmt.Fprintf(out, "devnet: %d nodes, routers %s, repos in %s\n", n, strings.Join(routers, ","), where)
	for _, nd := range nodes {
		fmt.Fprintf(out, "%-4s %s  api %s  repo %s\n", nd.name, nd.info.PeerID, nd.info.APIAddr, nd.repo)
	}
	uiURL, err := webUIURL(ctx, nodes[0].repo)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "web UI: %s\n", uiURL)
	fmt.Fprintf(out, "try:    DHTNODE_PATH=%s dhtnode lookup hello --via all\n", nodes[min(2, n-1)].repo)
	fmt.Fprintln(out, "Ctrl-C stops every node (each leaves the cluster first).")

	for _, nd := range nodes {
		go func() {
			select {
			case <-nd.done:
				if ctx.Err() == nil {
					fmt.Fprintf(out, "devnet: %s stopped (log: %s)\n", nd.name, nd.log.Name())
				}
			case <-ctx.Done():
			}
		}()
	}
	<-ctx.Done()
	fmt.Fprintln(out, "devnet: stopping")
	return nil
}

// initDevnetRepo creates a node's repo unless it exists: loopback only, the routers asked
// for, and fsync off (a devnet is for watching, not for keeping data through a crash).
func initDevnetRepo(path string, routers []string) error {
	if _, err := node.OpenRepo(path); err == nil {
		return nil
	} else if !errors.Is(err, node.ErrNoRepo) {
		return fmt.Errorf("devnet: %w", err)
	}
	cfg := node.DefaultConfig()
	cfg.Routing.Routers = routers
	if !slices.Contains(routers, cfg.Routing.Default) {
		cfg.Routing.Default = routers[0]
	}
	cfg.Content.NoSync = true
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	if _, err := node.InitRepo(path, cfg); err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	return nil
}

// start runs the node's daemon, joining join when set. Its output goes to daemon.log.
func (nd *devnetNode) start(exe, join string) error {
	log, err := os.OpenFile(filepath.Join(nd.repo, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	args := []string{"daemon", "--gossip", "127.0.0.1:0", "--api", "127.0.0.1:0",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1", "--profile", "local"}
	if join != "" {
		args = append(args, "--join", join)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), node.EnvRepoPath+"="+nd.repo, EnvAPI+"=")
	cmd.Stdout, cmd.Stderr = log, log
	setDevnetChildAttrs(cmd)
	// Removing a stale api file first means waitAPI reads this daemon's address.
	_ = os.Remove(filepath.Join(nd.repo, node.APIFile))
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("devnet: start %s: %w", nd.name, err)
	}
	nd.cmd, nd.log, nd.done = cmd, log, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(nd.done)
	}()
	return nil
}

// waitAPI waits until the node's API answers and records its identity.
func (nd *devnetNode) waitAPI(ctx context.Context) error {
	for {
		if c, err := client.FromRepo(nd.repo); err == nil {
			if info, err := c.ID(ctx); err == nil {
				nd.info = info
				return nil
			}
		}
		select {
		case <-nd.done:
			return fmt.Errorf("devnet: %s exited while starting; see %s", nd.name, filepath.Join(nd.repo, "daemon.log"))
		case <-ctx.Done():
			return fmt.Errorf("devnet: %s did not start: %w", nd.name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitConverged waits until every node sees every node alive.
func waitConverged(ctx context.Context, nodes []*devnetNode) error {
	want := make(map[string]bool, len(nodes))
	for _, nd := range nodes {
		want[nd.info.PeerID] = true
	}
	for {
		pending := ""
		for _, nd := range nodes {
			c, err := client.FromRepo(nd.repo)
			if err != nil {
				return err
			}
			ms, err := c.Members(ctx)
			alive := 0
			for _, m := range ms {
				if m.State == "alive" && want[m.PeerID] {
					alive++
				}
			}
			if err != nil || alive != len(nodes) {
				pending = fmt.Sprintf("%s sees %d of %d alive", nd.name, alive, len(nodes))
				break
			}
		}
		if pending == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devnet: nodes did not all see each other (%s): %w", pending, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stopDevnet asks every running node to leave (SIGINT, as Ctrl-C on a daemon) and waits;
// a node that does not stop in time is killed.
func stopDevnet(out io.Writer, nodes []*devnetNode) {
	for _, nd := range nodes {
		if nd.cmd != nil {
			_ = nd.cmd.Process.Signal(os.Interrupt)
		}
	}
	for _, nd := range nodes {
		if nd.cmd == nil {
			continue
		}
		select {
		case <-nd.done:
		case <-time.After(devnetStop):
			fmt.Fprintf(out, "devnet: %s did not leave within %s; killing it\n", nd.name, devnetStop)
			_ = nd.cmd.Process.Kill()
			<-nd.done
		}
	}
}
