package raftnodetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/runnel-dev/runnel/raftmeta/raftnode"
)

// ChildEnv is the environment variable that turns a test binary into a
// ProcessCluster node (its value is the node's JSON childConfig).
const ChildEnv = "RAFTNODETEST_CHILD"

// childConfig is what the parent passes to a node process.
type childConfig struct {
	ID              uint64            `json:"id"`
	Dir             string            `json:"dir"`
	Listen          string            `json:"listen"`
	ListenerFD      bool              `json:"listener_fd"` // the raft listener is fd 3, on Listen's address
	Voters          map[uint64]string `json:"voters"`
	SnapshotEntries uint64            `json:"snapshot_entries"`
	CtrlFile        string            `json:"ctrl_file"` // where the child writes its control address
	ParentPID       int               `json:"parent_pid"`
}

// ChildStatus is what a node process reports on GET /status.
type ChildStatus struct {
	ID       uint64 `json:"id"`
	Leader   uint64 `json:"leader"`
	IsLeader bool   `json:"is_leader"`
	Applied  uint64 `json:"applied"`
	Count    uint64 `json:"count"`
	Hash     uint64 `json:"hash"`
}

// ProposeResult is what a node process answers to POST /propose.
type ProposeResult struct {
	Index uint64 `json:"index"`
	Error string `json:"error,omitempty"`
}

// RunChildIfRequested must be called first in TestMain of a package that uses
// ProcessCluster. In the parent it returns at once; in a node process (ChildEnv
// set) it runs the node and exits when killed or when the parent goes away.
func RunChildIfRequested() {
	raw := os.Getenv(ChildEnv)
	if raw == "" {
		return
	}
	if err := runChild(raw); err != nil {
		fmt.Fprintf(os.Stderr, "raftnodetest child: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runChild(raw string) error {
	var cc childConfig
	if err := json.Unmarshal([]byte(raw), &cc); err != nil {
		return fmt.Errorf("decode %s: %w", ChildEnv, err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var raftLn net.Listener
	if cc.ListenerFD {
		f := os.NewFile(3, "raft-listener")
		ln, err := net.FileListener(f)
		_ = f.Close()
		if err != nil {
			return fmt.Errorf("raft listener from the parent: %w", err)
		}
		raftLn = ln
	}
	kv := NewKV()
	var node *raftnode.Node
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		node, err = raftnode.Start(raftnode.Config{
			ID:              cc.ID,
			ClusterID:       ClusterID,
			Dir:             cc.Dir,
			Listen:          cc.Listen,
			Listener:        raftLn,
			Voters:          cc.Voters,
			TickInterval:    20 * time.Millisecond,
			SnapshotEntries: cc.SnapshotEntries,
			Logger:          logger,
		}, kv)
		if err == nil || !isAddrInUse(err) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	defer node.Stop()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /propose", func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		idx, err := node.Propose(ctx, data)
		res := ProposeResult{Index: idx}
		if err != nil {
			res.Error = err.Error()
		}
		_ = json.NewEncoder(w).Encode(res)
	})
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		v, ok := kv.Get(r.URL.Query().Get("key"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, v)
	})
	mux.HandleFunc("GET /dump", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(kv.Dump())
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(ChildStatus{
			ID: node.ID(), Leader: node.Leader(), IsLeader: node.IsLeader(),
			Applied: node.AppliedIndex(), Count: kv.Count(), Hash: kv.Hash(),
		})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("control listener: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	defer srv.Close()

	tmp := cc.CtrlFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(ln.Addr().String()), 0o644); err != nil {
		return fmt.Errorf("write control address: %w", err)
	}
	if err := os.Rename(tmp, cc.CtrlFile); err != nil {
		return fmt.Errorf("publish control address: %w", err)
	}

	// Exit when the parent test process is gone, so that no node outlives it.
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-serveErr:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("control server: %w", err)
		case <-node.Done():
			return fmt.Errorf("node stopped: %w", node.Err())
		case <-tick.C:
			if os.Getppid() != cc.ParentPID {
				return nil
			}
		}
	}
}
