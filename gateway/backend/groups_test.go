package backend

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/runnel-dev/runnel/gateway/apierr"
)

// TestGroupError: the coordinator's refusals become the API's statuses.
func TestGroupError(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{kerr.GroupIDNotFound, http.StatusNotFound, apierr.CodeGroupNotFound},
		{fmt.Errorf("delete: %w", kerr.NonEmptyGroup), http.StatusConflict, apierr.CodeGroupNotEmpty},
		{kerr.UnknownMemberID, http.StatusConflict, apierr.CodeGroupNotEmpty},
		{kerr.RebalanceInProgress, http.StatusConflict, apierr.CodeGroupNotEmpty},
		{kerr.InvalidGroupID, http.StatusBadRequest, apierr.CodeInvalidRequest},
		{kerr.GroupAuthorizationFailed, http.StatusForbidden, apierr.CodeForbidden},
		{kerr.CoordinatorLoadInProgress, http.StatusServiceUnavailable, apierr.CodeUnavailable},
		{kerr.NotCoordinator, http.StatusServiceUnavailable, apierr.CodeUnavailable},
		{errors.New("something else"), http.StatusInternalServerError, apierr.CodeInternal},
	} {
		var ae *apierr.Error
		if !errors.As(groupError(tc.err, "g"), &ae) || ae.Status != tc.status || ae.Code != tc.code {
			t.Errorf("%v: got %v, want %d %s", tc.err, ae, tc.status, tc.code)
		}
	}
}

// TestGroupPartitionLag: lag is the end minus the committed offset, or
// minus the log start when nothing is committed, never negative, and -1
// when the partition's offsets are unknown.
func TestGroupPartitionLag(t *testing.T) {
	member := &kadm.DescribedGroupMember{MemberID: "m"}
	for _, tc := range []struct {
		commit, start, end int64
		listErr            error
		member             *kadm.DescribedGroupMember
		want               GroupPartition
	}{
		{commit: 4, start: 0, end: 10, member: member, want: GroupPartition{CommitTime: -1, Committed: 4, LogStart: 0, LogEnd: 10, Lag: 6, MemberID: "m"}},
		{commit: -1, start: 3, end: 10, want: GroupPartition{CommitTime: -1, Committed: -1, LogStart: 3, LogEnd: 10, Lag: 7}},
		{commit: 12, start: 0, end: 10, want: GroupPartition{CommitTime: -1, Committed: 12, LogStart: 0, LogEnd: 10, Lag: 0}},
		{commit: 4, listErr: kerr.NotLeaderForPartition, want: GroupPartition{CommitTime: -1, Committed: 4, LogStart: -1, LogEnd: -1, Lag: -1}},
	} {
		pl := kadm.GroupMemberLag{Member: tc.member, Topic: "t", Partition: 1,
			Commit: kadm.Offset{At: tc.commit},
			Start:  kadm.ListedOffset{Offset: tc.start, Err: tc.listErr},
			End:    kadm.ListedOffset{Offset: tc.end}}
		tc.want.Topic, tc.want.Partition = "t", 1
		if got := groupPartition(pl); got != tc.want {
			t.Errorf("commit %d start %d end %d: got %+v, want %+v", tc.commit, tc.start, tc.end, got, tc.want)
		}
	}
}
