package raftnodetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/testwait"
)

// ProcessCluster runs each node as a child process: the test binary re-executed
// with ChildEnv set (the package's TestMain must call RunChildIfRequested). Each
// child runs a KV node and serves a small HTTP control API on loopback. Kill sends
// SIGKILL to one child by PID; Start restarts it from its Dir. Every child is
// killed by t.Cleanup.
type ProcessCluster struct {
	t      testing.TB
	root   string
	voters map[uint64]string
	client *http.Client

	opts ProcessOptions

	mu    sync.Mutex
	procs map[uint64]*childProc
	// reserved holds each node's raft listener from NewProcessCluster until
	// its first start hands it to the child: a port released and listened
	// on again could be taken in between by any socket on the machine.
	reserved map[uint64]*net.TCPListener
}

type childProc struct {
	cmd  *exec.Cmd
	ctrl string
	done chan struct{} // closed when the process has been waited for
	log  *os.File
}

// ProcessOptions configure a ProcessCluster.
type ProcessOptions struct {
	Voters          int    // number of voters, ids 1..Voters (default 3)
	SnapshotEntries uint64 // passed to every node (0: raftnode's default)
}

// NewProcessCluster reserves ports and directories for the voters and starts them.
func NewProcessCluster(t testing.TB, opts ProcessOptions) *ProcessCluster {
	t.Helper()
	if opts.Voters == 0 {
		opts.Voters = 3
	}
	voters := opts.Voters
	pc := &ProcessCluster{
		t:        t,
		opts:     opts,
		root:     t.TempDir(),
		voters:   make(map[uint64]string),
		client:   &http.Client{Timeout: 10 * time.Second},
		procs:    make(map[uint64]*childProc),
		reserved: make(map[uint64]*net.TCPListener),
	}
	t.Cleanup(func() {
		pc.KillAll()
		pc.mu.Lock()
		defer pc.mu.Unlock()
		for _, ln := range pc.reserved {
			_ = ln.Close()
		}
	})
	for id := uint64(1); id <= uint64(voters); id++ {
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatalf("raftnodetest: reserve port: %v", err)
		}
		pc.voters[id] = ln.Addr().String()
		pc.reserved[id] = ln
	}
	for id := uint64(1); id <= uint64(voters); id++ {
		pc.Start(id)
	}
	return pc
}

// IDs returns the node ids.
func (pc *ProcessCluster) IDs() []uint64 {
	ids := make([]uint64, 0, len(pc.voters))
	for id := uint64(1); id <= uint64(len(pc.voters)); id++ {
		ids = append(ids, id)
	}
	return ids
}

func (pc *ProcessCluster) nodeDir(id uint64) string {
	return filepath.Join(pc.root, fmt.Sprintf("node%d", id))
}

// Start starts node id's process (from its Dir if it ran before) and waits until
// its control API answers.
func (pc *ProcessCluster) Start(id uint64) {
	pc.t.Helper()
	pc.mu.Lock()
	if p := pc.procs[id]; p != nil {
		pc.mu.Unlock()
		pc.t.Fatalf("raftnodetest: node %d already running", id)
	}
	pc.mu.Unlock()
	dir := pc.nodeDir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		pc.t.Fatal(err)
	}
	ctrlFile := filepath.Join(dir, "ctrl.addr")
	_ = os.Remove(ctrlFile)
	// The first start hands the child the reserved listener as fd 3; a
	// restart listens on the address again.
	pc.mu.Lock()
	ln := pc.reserved[id]
	delete(pc.reserved, id)
	pc.mu.Unlock()
	var lnFile *os.File
	if ln != nil {
		f, err := ln.File()
		_ = ln.Close()
		if err != nil {
			pc.t.Fatalf("raftnodetest: pass node %d its listener: %v", id, err)
		}
		lnFile = f
		defer lnFile.Close()
	}
	cfg, err := json.Marshal(childConfig{
		ID: id, Dir: filepath.Join(dir, "meta"), Listen: pc.voters[id], ListenerFD: lnFile != nil, Voters: pc.voters,
		SnapshotEntries: pc.opts.SnapshotEntries, CtrlFile: ctrlFile, ParentPID: os.Getpid(),
	})
	if err != nil {
		pc.t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, "node.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		pc.t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), ChildEnv+"="+string(cfg))
	cmd.Stdout, cmd.Stderr = logf, logf
	if lnFile != nil {
		cmd.ExtraFiles = []*os.File{lnFile} // fd 3 in the child
	}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		pc.t.Fatalf("raftnodetest: start node %d: %v", id, err)
	}
	p := &childProc{cmd: cmd, done: make(chan struct{}), log: logf}
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(p.done)
	}()
	pc.mu.Lock()
	pc.procs[id] = p
	pc.mu.Unlock()
	testwait.For(pc.t, 20*time.Second, 10*time.Millisecond, func() error {
		select {
		case <-p.done:
			return fmt.Errorf("node %d exited: %s", id, pc.logTail(id))
		default:
		}
		b, err := os.ReadFile(ctrlFile)
		if err != nil {
			return err
		}
		p.ctrl = string(b)
		return nil
	})
}

// Kill sends SIGKILL to node id's process and waits for it to exit.
func (pc *ProcessCluster) Kill(id uint64) {
	pc.mu.Lock()
	p := pc.procs[id]
	delete(pc.procs, id)
	pc.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill() // SIGKILL, by PID
	<-p.done
}

// KillAll kills every child. Registered with t.Cleanup; on failure it logs the
// tail of each node's log.
func (pc *ProcessCluster) KillAll() {
	for _, id := range pc.IDs() {
		pc.Kill(id)
	}
	if pc.t.Failed() {
		for _, id := range pc.IDs() {
			pc.t.Logf("node %d log tail:\n%s", id, pc.logTail(id))
		}
	}
}

func (pc *ProcessCluster) logTail(id uint64) string {
	b, _ := os.ReadFile(filepath.Join(pc.nodeDir(id), "node.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (pc *ProcessCluster) ctrl(id uint64) (string, error) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	p := pc.procs[id]
	if p == nil {
		return "", fmt.Errorf("node %d not running", id)
	}
	return "http://" + p.ctrl, nil
}

// Status asks node id for its status.
func (pc *ProcessCluster) Status(id uint64) (ChildStatus, error) {
	var st ChildStatus
	base, err := pc.ctrl(id)
	if err != nil {
		return st, err
	}
	resp, err := pc.client.Get(base + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// Get reads key from node id's state machine.
func (pc *ProcessCluster) Get(id uint64, key string) (string, bool, error) {
	base, err := pc.ctrl(id)
	if err != nil {
		return "", false, err
	}
	resp, err := pc.client.Get(base + "/get?key=" + url.QueryEscape(key))
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNotFound {
		return "", false, err
	}
	return string(b), true, err
}

// Dump returns node id's whole KV contents.
func (pc *ProcessCluster) Dump(id uint64) (map[string]string, error) {
	base, err := pc.ctrl(id)
	if err != nil {
		return nil, err
	}
	resp, err := pc.client.Get(base + "/dump")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]string
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

// Propose proposes data through node id.
func (pc *ProcessCluster) Propose(id uint64, data []byte) (uint64, error) {
	base, err := pc.ctrl(id)
	if err != nil {
		return 0, err
	}
	resp, err := pc.client.Post(base+"/propose", "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var res ProposeResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return 0, err
	}
	if res.Error != "" {
		return res.Index, errors.New(res.Error)
	}
	return res.Index, nil
}

// Running returns the ids of running children.
func (pc *ProcessCluster) Running() []uint64 {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	var out []uint64
	for _, id := range pc.IDs() {
		if pc.procs[id] != nil {
			out = append(out, id)
		}
	}
	return out
}

// WaitLeader waits until every running node agrees on a running leader.
func (pc *ProcessCluster) WaitLeader(timeout time.Duration) uint64 {
	pc.t.Helper()
	var leader uint64
	testwait.For(pc.t, timeout, 20*time.Millisecond, func() error {
		leader = 0
		for _, id := range pc.Running() {
			st, err := pc.Status(id)
			if err != nil {
				return err
			}
			if st.Leader == 0 || (leader != 0 && st.Leader != leader) {
				return fmt.Errorf("node %d sees leader %d (others %d)", id, st.Leader, leader)
			}
			leader = st.Leader
		}
		if leader == 0 {
			return errors.New("no running node")
		}
		if st, err := pc.Status(leader); err != nil || !st.IsLeader {
			return fmt.Errorf("leader %d not confirmed: %v", leader, err)
		}
		return nil
	})
	return leader
}

// ProposeRetry proposes data through the current leader, retrying failures until
// timeout.
func (pc *ProcessCluster) ProposeRetry(data []byte, timeout time.Duration) (uint64, error) {
	deadline := time.Now().Add(timeout)
	for {
		var err error
		var idx uint64
		leader := pc.WaitLeader(time.Until(deadline))
		if idx, err = pc.Propose(leader, data); err == nil {
			return idx, nil
		}
		if time.Now().After(deadline) {
			return 0, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
