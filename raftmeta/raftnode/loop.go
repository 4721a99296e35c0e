package raftnode

import (
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

// run is the loop: it owns rn, storage and the StateMachine. Each iteration takes
// one input (tick, proposals, received messages, transport reports, status
// requests) and then handles a Ready if there is one.
func (n *Node) run() {
	defer close(n.done)
	// raft panics when its invariants break (e.g. a log damaged beyond what the
	// WAL can detect). Stop this node with an error instead of the whole process.
	defer func() {
		if r := recover(); r != nil {
			n.fail(fmt.Errorf("raft panicked: %v\n%s", r, debug.Stack()))
		}
	}()
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	for {
		select {
		case <-n.stopC:
			n.closeStorage()
			return
		case <-ticker.C:
			n.rn.Tick()
		case p := <-n.propC:
			n.proposeBatch(p)
		case p := <-n.confC:
			n.proposeConfChange(p)
		case m := <-n.recvC:
			n.step(m)
			for i := 0; i < maxRecvBatch; i++ {
				select {
				case m := <-n.recvC:
					n.step(m)
					continue
				default:
				}
				break
			}
		case <-n.reportSig:
			n.handleReports()
		case req := <-n.statusC:
			req <- n.rn.Status()
		}
		if n.rn.HasReady() {
			if err := n.handleReady(); err != nil {
				n.fail(err)
				return
			}
		}
	}
}

// fail records a fatal error and closes the storage; the loop then exits.
func (n *Node) fail(err error) {
	n.logger.Error("raftnode: stopping after fatal error", "err", err)
	n.errMu.Lock()
	n.err = err
	n.errMu.Unlock()
	n.closeStorage()
}

func (n *Node) closeStorage() {
	if err := n.storage.close(); err != nil {
		n.logger.Error("raftnode: close storage", "err", err)
	}
}

func (n *Node) step(m *pb.Message) {
	switch m.GetType() {
	case pb.MsgHeartbeat:
		n.clampHeartbeatCommit(m)
	case pb.MsgAppResp:
		if m.GetReject() && n.isLeader.Load() {
			n.checkLostEntries(m)
		}
	}
	if err := n.rn.Step(m); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) {
		n.logger.Debug("raftnode: step", "type", m.GetType().String(), "from", m.GetFrom(), "err", err)
	}
}

// clampHeartbeatCommit lowers a heartbeat's commit index to this node's last
// entry. A leader only sends a commit index this node has acknowledged, so a higher
// one means the node lost acknowledged entries (a WAL tail cut after a disk lied
// about fsync, or was damaged by hand); raft would panic on it. Lowering is safe:
// commit only moves forward, and the entries come back from the leader.
func (n *Node) clampHeartbeatCommit(m *pb.Message) {
	last, err := n.storage.ms.LastIndex()
	if err != nil || m.GetCommit() <= last {
		return
	}
	if !n.lostWarned {
		n.lostWarned = true
		n.logger.Warn("raftnode: the leader believes this node holds entries it no longer has (damaged WAL tail?)",
			"leader_commit", m.GetCommit(), "last_index", last)
	}
	m.Commit = new(last)
}

// checkLostEntries notices a follower that rejects appends below what it had
// acknowledged: it lost entries (see clampHeartbeatCommit). raft never lowers a
// follower's match index, so this leader would probe it in vain forever; after a
// few such rejections the leader hands leadership to an up-to-date voter, whose
// fresh progress tracking re-replicates the missing entries.
func (n *Node) checkLostEntries(m *pb.Message) {
	from := m.GetFrom()
	// The transferee is the most up-to-date other active voter; raft's transfer
	// lets it catch up before handing over.
	var match, transferee, best uint64
	n.rn.WithProgress(func(id uint64, typ raft.ProgressType, pr tracker.Progress) {
		switch {
		case id == from:
			match = pr.Match
		case id != n.id && typ == raft.ProgressTypePeer && pr.RecentActive && pr.Match > best:
			transferee, best = id, pr.Match
		}
	})
	if m.GetIndex() > match || m.GetRejectHint() >= match {
		delete(n.lostRejects, from)
		return
	}
	n.lostRejects[from]++
	if n.lostRejects[from] < lostRejectsBeforeTransfer || n.rn.BasicStatus().LeadTransferee != 0 {
		return
	}
	delete(n.lostRejects, from)
	if transferee == 0 {
		n.logger.Error("raftnode: follower lost entries it had acknowledged and no other active voter can take over",
			"follower", from, "acknowledged", match, "follower_last", m.GetRejectHint())
		return
	}
	n.logger.Warn("raftnode: follower lost entries it had acknowledged; handing over leadership so that it is re-replicated",
		"follower", from, "acknowledged", match, "follower_last", m.GetRejectHint(), "transferee", transferee)
	n.rn.TransferLeader(transferee)
}

// handleReady persists, sends, applies and advances, in that order (etcd's
// raftexample serveChannels): messages leave only after what they promise is on
// disk, with one fdatasync per Ready.
func (n *Node) handleReady() error {
	rd := n.rn.Ready()
	if rd.SoftState != nil {
		n.updateSoftState(rd.SoftState)
	}
	if err := n.storage.save(&rd); err != nil {
		return err
	}
	for _, e := range rd.Entries {
		if t := e.GetType(); t == pb.EntryConfChange || t == pb.EntryConfChangeV2 {
			n.pendingConf = max(n.pendingConf, e.GetIndex())
		}
	}
	if rd.SoftState != nil && rd.SoftState.RaftState == raft.StateLeader {
		last, _ := n.storage.ms.LastIndex()
		n.pendingConf = max(n.pendingConf, last)
	}
	if len(rd.Entries) > 0 {
		n.metrics.readyBatch.Observe(float64(len(rd.Entries)))
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.installSnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	n.tr.send(rd.Messages)
	if err := n.apply(rd.CommittedEntries); err != nil {
		return err
	}
	if err := n.maybeSnapshot(); err != nil {
		return err
	}
	n.rn.Advance(rd)
	if n.campaign {
		n.campaign = false
		n.maybeCampaignAlone()
	}
	return nil
}

// maybeCampaignAlone starts an election at once in a single-voter cluster instead
// of waiting for the election timeout.
func (n *Node) maybeCampaignAlone() {
	st := n.rn.BasicStatus()
	if st.RaftState == raft.StateLeader {
		return
	}
	voters := n.confState.GetVoters()
	if len(voters) == 1 && voters[0] == n.id && len(n.confState.GetVotersOutgoing()) == 0 {
		_ = n.rn.Campaign()
	}
}

func (n *Node) installSnapshot(snap *pb.Snapshot) error {
	md := snap.GetMetadata()
	if md.GetIndex() <= n.applied {
		return nil
	}
	if err := n.sm.Restore(md.GetIndex(), snap.GetData()); err != nil {
		return fmt.Errorf("restore state machine from snapshot at %d: %w", md.GetIndex(), err)
	}
	n.applied, n.snapIndex = md.GetIndex(), md.GetIndex()
	n.appliedIdx.Store(n.applied)
	n.confState = proto.Clone(md.GetConfState()).(*pb.ConfState)
	n.metrics.snapshots.Inc()
	n.logger.Info("raftnode: installed snapshot from leader", "index", md.GetIndex(), "term", md.GetTerm())
	return nil
}

func (n *Node) updateSoftState(ss *raft.SoftState) {
	isLeader := ss.RaftState == raft.StateLeader
	n.isLeader.Store(isLeader)
	if isLeader {
		n.metrics.isLeader.Set(1)
	} else {
		n.metrics.isLeader.Set(0)
	}
	if old := n.leader.Swap(ss.Lead); old != ss.Lead {
		n.metrics.leaderChanges.Inc()
		n.logger.Info("raftnode: leader changed", "leader", ss.Lead, "previous", old, "state", ss.RaftState.String())
		n.leaderMu.Lock()
		close(n.leaderCh)
		n.leaderCh = make(chan struct{})
		n.leaderMu.Unlock()
	}
}

// apply hands committed entries to the StateMachine and raft, and answers local
// proposers once AppliedIndex counts their entry.
func (n *Node) apply(ents []*pb.Entry) error {
	for _, e := range ents {
		idx := e.GetIndex()
		if idx <= n.applied {
			continue
		}
		var ans answer
		switch e.GetType() {
		case pb.EntryNormal:
			ans = n.applyNormal(idx, e.GetData())
		case pb.EntryConfChange:
			cc := &pb.ConfChange{}
			if err := proto.Unmarshal(e.GetData(), cc); err != nil {
				return fmt.Errorf("decode committed conf change at %d: %w", idx, err)
			}
			ans = n.applyConfChange(idx, cc.AsV2())
		case pb.EntryConfChangeV2:
			cc := &pb.ConfChangeV2{}
			if err := proto.Unmarshal(e.GetData(), cc); err != nil {
				return fmt.Errorf("decode committed conf change at %d: %w", idx, err)
			}
			ans = n.applyConfChange(idx, cc)
		}
		n.applied = idx
		n.appliedIdx.Store(idx)
		n.metrics.applied.Inc()
		if ans.local {
			n.resolve(ans.seq, ans.res)
		}
	}
	return nil
}

// answer is the result an applied entry owes its local proposer, if it has
// one here (local).
type answer struct {
	local bool
	seq   uint64
	res   result
}

func (n *Node) applyNormal(idx uint64, data []byte) answer {
	if len(data) == 0 {
		return answer{} // the empty entry a new leader appends
	}
	env, payload, ok := parseEnvelope(data)
	if !ok {
		n.logger.Error("raftnode: skipping committed entry without envelope", "index", idx, "bytes", len(data))
		return answer{}
	}
	err := n.sm.Apply(idx, payload)
	return answer{local: env.node == n.id && env.epoch == n.epoch, seq: env.seq, res: result{index: idx, err: err}}
}

func (n *Node) applyConfChange(idx uint64, cc *pb.ConfChangeV2) answer {
	env, userCtx, local := parseEnvelope(cc.GetContext())
	local = local && env.node == n.id && env.epoch == n.epoch
	if _, _, ok := parseEnvelope(cc.GetContext()); ok {
		cc = proto.Clone(cc).(*pb.ConfChangeV2)
		cc.Context = userCtx
	}
	wasMember := isMember(n.confState, n.id)
	var err error
	if verr := validateConfChange(n.confState, idx, cc); verr != nil {
		err = fmt.Errorf("%w: %v", ErrConfChangeRejected, verr)
		n.logger.Warn("raftnode: rejecting committed configuration change", "index", idx, "change", describeConfChange(cc), "err", verr)
	} else {
		for _, c := range cc.GetChanges() {
			if t := c.GetType(); (t == pb.ConfChangeAddNode || t == pb.ConfChangeAddLearnerNode) && !isMember(n.confState, c.GetNodeId()) {
				n.forceSnap = true
			}
		}
		n.confState = n.rn.ApplyConfChange(cc)
		n.logger.Info("raftnode: configuration changed", "index", idx, "change", describeConfChange(cc),
			"voters", n.confState.GetVoters(), "learners", n.confState.GetLearners())
		// A change adding one node may carry its address (see
		// ProposeConfChange): every member learns where to reach it, not only
		// the one that proposed it.
		if ch := cc.GetChanges(); len(ch) == 1 && len(userCtx) > 0 && ch[0].GetNodeId() != n.id {
			if t := ch[0].GetType(); t == pb.ConfChangeAddNode || t == pb.ConfChangeAddLearnerNode {
				if _, _, err := net.SplitHostPort(string(userCtx)); err == nil {
					n.tr.setAddr(ch[0].GetNodeId(), string(userCtx))
				}
			}
		}
		if wasMember && !isMember(n.confState, n.id) {
			n.logger.Warn("raftnode: this node was removed from the cluster", "index", idx)
		}
	}
	return answer{local: local, seq: env.seq, res: result{index: idx, err: err}}
}

func isMember(cs *pb.ConfState, id uint64) bool {
	return slices.Contains(cs.GetVoters(), id) || slices.Contains(cs.GetLearners(), id) ||
		slices.Contains(cs.GetVotersOutgoing(), id) || slices.Contains(cs.GetLearnersNext(), id)
}

// maybeSnapshot takes a snapshot once SnapshotEntries entries were applied since
// the last one, or at once after a node was added (see forceSnap).
func (n *Node) maybeSnapshot() error {
	force := n.forceSnap && n.applied > n.snapIndex
	n.forceSnap = false
	if !force && n.applied-n.snapIndex < n.cfg.SnapshotEntries {
		return nil
	}
	data, err := n.sm.Snapshot()
	if err != nil {
		n.logger.Error("raftnode: state machine snapshot failed; will retry", "applied", n.applied, "err", err)
		n.snapIndex = n.applied // retry after another SnapshotEntries
		return nil
	}
	if err := n.storage.snapshot(n.applied, n.confState, data, n.cfg.SnapshotCatchUpEntries); err != nil {
		return err
	}
	n.snapIndex = n.applied
	n.metrics.snapshots.Inc()
	n.logger.Debug("raftnode: snapshot taken", "index", n.applied, "bytes", len(data))
	return nil
}

func (n *Node) proposeBatch(first *proposal) {
	batch := []*proposal{first}
	size := len(first.data)
collect:
	for len(batch) < maxProposalBatch && size < maxProposalBatchLen {
		select {
		case p := <-n.propC:
			batch = append(batch, p)
			size += len(p.data)
		default:
			break collect
		}
	}
	ents := make([]*pb.Entry, len(batch))
	for i, p := range batch {
		ents[i] = &pb.Entry{Data: p.data}
	}
	err := n.rn.Step(&pb.Message{Type: pb.MsgProp.Enum(), From: new(n.id), Entries: ents})
	if err != nil {
		for _, p := range batch {
			n.resolve(p.seq, result{err: fmt.Errorf("%w: %v", ErrProposalDropped, err)})
		}
	}
}

func (n *Node) proposeConfChange(p *proposal) {
	if err := validateConfChange(n.confState, n.applied+1, p.cc); err != nil {
		n.resolve(p.seq, result{err: fmt.Errorf("%w: %v", ErrConfChangeRejected, err)})
		return
	}
	if n.isLeader.Load() && n.pendingConf > n.applied {
		n.resolve(p.seq, result{err: fmt.Errorf("%w: another configuration change is not applied yet", ErrProposalDropped)})
		return
	}
	if err := n.rn.ProposeConfChange(p.cc); err != nil {
		n.resolve(p.seq, result{err: fmt.Errorf("%w: %v", ErrProposalDropped, err)})
	}
}

func (n *Node) resolve(seq uint64, r result) {
	n.waitMu.Lock()
	p := n.waiters[seq]
	delete(n.waiters, seq)
	n.waitMu.Unlock()
	if p != nil {
		p.done <- r
	}
}

// dropProposal is called by the transport when a proposal forwarded to the leader
// was never sent: its local waiters fail at once with ErrProposalDropped instead
// of waiting for their ctx. Safe from any goroutine.
func (n *Node) dropProposal(m *pb.Message) {
	for _, e := range m.GetEntries() {
		if env, _, ok := parseEnvelope(e.GetData()); ok && env.node == n.id && env.epoch == n.epoch {
			n.resolve(env.seq, result{err: fmt.Errorf("%w: could not forward it to leader %d", ErrProposalDropped, m.GetTo())})
		}
	}
}

// deliver is called by the transport for each received raft message.
func (n *Node) deliver(m *pb.Message) {
	select {
	case n.recvC <- m:
	case <-n.done:
	}
}

func (n *Node) reportUnreachable(id uint64) {
	n.reportMu.Lock()
	n.unreachable[id] = struct{}{}
	n.reportMu.Unlock()
	n.signalReports()
}

func (n *Node) reportSnapshot(id uint64, status raft.SnapshotStatus) {
	n.reportMu.Lock()
	n.snapReports = append(n.snapReports, snapReport{id, status})
	n.reportMu.Unlock()
	n.signalReports()
}

func (n *Node) signalReports() {
	select {
	case n.reportSig <- struct{}{}:
	default:
	}
}

func (n *Node) handleReports() {
	n.reportMu.Lock()
	unreachable := n.unreachable
	snaps := n.snapReports
	n.unreachable = make(map[uint64]struct{})
	n.snapReports = nil
	n.reportMu.Unlock()
	for id := range unreachable {
		n.rn.ReportUnreachable(id)
	}
	for _, r := range snaps {
		n.rn.ReportSnapshot(r.id, r.status)
	}
}
