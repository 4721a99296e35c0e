package controller

import (
	"context"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// AlterACLsRequest creates and deletes ACLs in one metadata entry.
type AlterACLsRequest struct {
	Create []metadata.ACL `json:"create,omitempty"`
	Delete []metadata.ACL `json:"delete,omitempty"`
}

// AlterACLs applies req: every change or none. Deleting an ACL that is not
// stored fails with metadata.ErrUnknownACL, an invalid one with
// metadata.ErrInvalidACL.
func (c *Controller) AlterACLs(ctx context.Context, req AlterACLsRequest) error {
	var recs []metadata.Record
	if len(req.Delete) > 0 {
		recs = append(recs, metadata.Record{ACLsDeleted: &metadata.ACLsDeleted{ACLs: req.Delete}})
	}
	if len(req.Create) > 0 {
		recs = append(recs, metadata.Record{ACLsCreated: &metadata.ACLsCreated{ACLs: req.Create}})
	}
	if len(recs) == 0 {
		return nil
	}
	return c.checkAndPropose(ctx, "alter ACLs", recs)
}
