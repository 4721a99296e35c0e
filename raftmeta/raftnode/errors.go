package raftnode

import (
	"errors"
	"strconv"
)

// ErrStopped is returned by calls on a Node that has been stopped (or that stopped
// itself after a fatal storage error, see Node.Err). The caller should give up on
// this Node; a new one can be started from the same Dir.
var ErrStopped = errors.New("raftnode: node stopped")

// ErrProposalDropped is returned by Propose and ProposeConfChange when raft refused
// the proposal locally: no leader is known yet, leadership is being transferred, or
// too much is already in flight. Nothing was appended; the caller may retry later.
var ErrProposalDropped = errors.New("raftnode: proposal dropped (no leader or too many uncommitted entries); retry")

// ErrConfChangeRejected is returned by ProposeConfChange when the committed
// configuration change is invalid against the configuration it is applied to
// (for example removing the last voter, or adding a learner that is a voter). All
// nodes reject it the same way and the membership is unchanged.
var ErrConfChangeRejected = errors.New("raftnode: configuration change rejected")

// ErrUnknownPeer is returned by Call when no address is known for the target node.
// Add one with Node.SetPeerAddress (or Config.Voters / Config.Peers).
var ErrUnknownPeer = errors.New("raftnode: no address known for peer")

// ErrPeerUnavailable is returned by Call when the request could not be delivered or
// the connection to the peer broke before the answer arrived. The request may or may
// not have been served; the caller may retry if the request is idempotent.
var ErrPeerUnavailable = errors.New("raftnode: peer unavailable")

// ErrNoHandler is returned (wrapped) by Call when the target node has no
// Config.Handler.
var ErrNoHandler = errors.New("raftnode: peer has no call handler")

// RemoteError is the error returned by Call when the peer's Config.Handler returned
// an error. Msg is the handler error's text; the error value itself does not cross
// the network.
type RemoteError struct {
	From uint64 // node that served the call
	Msg  string
}

func (e *RemoteError) Error() string {
	return "raftnode: remote error from node " + strconv.FormatUint(e.From, 10) + ": " + e.Msg
}

// ErrCorrupt is returned (inside a *CorruptError) by Start when Dir holds raft
// state that is damaged in a way a crash cannot explain: a bad record with valid
// records after it, a bad record that was written whole, a snapshot the WAL
// needs that does not load. Cutting it could drop committed metadata, so the
// node does not start. Recover this node's metadata from a peer or from a
// snapshot, as README.md ("Recovering damaged metadata") describes.
var ErrCorrupt = errors.New("raftnode: raft state on disk is damaged")

// CorruptError says which file is damaged and where. It unwraps to ErrCorrupt.
type CorruptError struct {
	// File is the path of the damaged file (or of the WAL directory when the
	// WAL as a whole does not match the snapshot).
	File string
	// Offset is the byte offset of the damage in File, -1 when it concerns
	// the whole file.
	Offset int64
	// Problem says what is wrong, in plain words.
	Problem string
}

func (e *CorruptError) Error() string {
	at := ""
	if e.Offset >= 0 {
		at = " at byte offset " + strconv.FormatInt(e.Offset, 10)
	}
	return "raftnode: refusing to start: " + e.File + " is damaged" + at + ": " + e.Problem +
		"; starting anyway could drop committed metadata. Recover this node's metadata from a peer or from the newest snapshot" +
		" as \"Recovering damaged metadata\" in README.md describes"
}

// Unwrap makes errors.Is(err, ErrCorrupt) hold.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }
